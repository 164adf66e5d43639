# Types for the compiled twin of nikgate/synth/address.py (see __init__.py); the .py stays plain.
import cython

from nikgate.synth._compiled.pick cimport Weighted, uniform
@cython.locals(n=cython.int, style=cython.double)
cpdef str address(object rng, int province, bint is_city, str village_name)
@cython.locals(rt=cython.int, rw=cython.int)
cpdef tuple rt_rw(object rng, bint is_city)

cdef Weighted _URBAN, _RURAL
cdef tuple STREETS, FLOWERS, ROMAN, PERUM, KOMPLEK, DUSUN, KAMPUNG, BANJAR, JORONG, RT_STR
