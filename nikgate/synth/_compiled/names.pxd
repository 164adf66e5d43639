# Types for the compiled twin of nikgate/synth/names.py (see __init__.py); the .py stays plain.
import cython

from nikgate.synth._compiled.pick cimport Weighted, uniform
@cython.locals(f=cython.bint, era=cython.int, islam=cython.bint, christian=cython.bint, r=cython.double)
cpdef str core_name(object rng, int group, int sex, int year, str religion, str surname=*, int order=*, bint noble=*)
cpdef str decorate(object rng, str name, int sex, int age, int year, str religion, int education, bint doctor)
cpdef str _pair(tuple a, tuple b, object rnd)
cpdef str family_name(object rng, int group, int sub, str religion)

# the name pools and codes the row path reads (module constants, never rebound)
cdef tuple ISLAMIC_M, ISLAMIC_M2, ISLAMIC_F, ISLAMIC_F2, MODERN_M, MODERN_M2, MODERN_F, MODERN_F2
cdef tuple BAPTISM_M, BAPTISM_F, JAWA_M, JAWA_M2, JAWA_F, JAWA_F2, SUNDA_M, SUNDA_M2
cdef tuple SUNDA_F, SUNDA_F2, MELAYU_M, MELAYU_F, MINANG_M, MINANG_F, BATAK_CHR_M, BATAK_CHR_F
cdef tuple BATAK_CLAN, BATAK_MUSLIM_CLAN, BALI_ORDER_M, BALI_ORDER_F, BALI_NOBLE_M, BALI_NOBLE_F, BALI_M, BALI_F
cdef tuple BUGIS_M, BUGIS_F, TIONGHOA_M, TIONGHOA_F, TIONGHOA_SURNAME, CHINESE_CLAN, CHINESE_SYL, FOREIGN_M
cdef tuple FOREIGN_F, FOREIGN_SURNAME, S1, S2, D3
cdef int BALI, BATAK, BUGIS, JAWA, MELAYU, MINANG, SUB_DAYAK, SUB_MALUKU
cdef int SUB_MINAHASA, SUB_NTT, SUB_PAPUA, SUB_TORAJA, SUNDA, TIMUR, TIONGHOA
cdef str ISLAM, KATHOLIK, KRISTEN
cdef Weighted MUHAMMAD
