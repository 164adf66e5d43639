# Types for the compiled twin of nikgate/synth/people.py (see __init__.py); the .py stays plain.
import cython

from nikgate.synth._compiled.pick cimport Weighted
from nikgate.synth._compiled.serials cimport KkSerials, NikSerials

cdef class DistrictGenerator:
    cdef public object d
    cdef public object rng
    cdef public object rnd
    cdef public NikSerials niks
    cdef public KkSerials kks
    cdef public Weighted groups
    cdef public object sub
    cdef public tuple near_places
    cdef public dict all_places
    cdef public object districts
    cpdef tuple _residence(self)
    @cython.locals(age=cython.int, sex=cython.int, head_age=cython.int, mother_age=cython.int,
                   wife_age=cython.int, head_sex=cython.int, n=cython.int, order=cython.int,
                   r=cython.double, v=cython.int, noble=cython.bint)
    cpdef list household(self)
    cpdef _married_daughter(self, tuple ctx, list rows, list daughter)
    cpdef str _name(self, tuple ctx, int sex, int age, str surname)
    @cython.locals(birth=cython.int, key=cython.int, year=cython.int, edu=cython.int, band=cython.int, r=cython.double, span=cython.int)
    cpdef list _member(self, tuple ctx, int sex, int age, str rel, str kawin, father=*, mother=*, str surname=*, int order=*, name=*, bint foreign=*)

cpdef int _age(int birth_ord)

# the calendar tables and constants the row path indexes (plain lists and numbers)
cdef list DDMMYY, ISO, YEAR
cdef tuple SEX_STR, EDU
cdef int AS_OF_ORD, FIRST_ORD, FEMALE_DAY_OFFSET, LAST_BASE_ORD, LOCAL_KK_FIRST_ORD
cdef int MALE, FEMALE, NIK, NO_KK, NAMA, TMPT, TGL, SEX, BLOOD, AGAMA, KAWIN, HBKEL, PDDK
cdef int PKRJN, IBU, AYAH, ALAMAT, RT, RW, PROP, KAB, KEC, KEL, WN, HIDUP, TGL_MATI, KTP
cdef double DAYS_PER_YEAR, MOVER_SHARE, WNA_SHARE, EMPTY_CODED, NO_FATHER
cdef Weighted HEAD_AGE, SPOUSE_GAP, CHILDREN, HOUSEHOLD
