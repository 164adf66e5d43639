# Types for the compiled twin of nikgate/synth/serials.py (see __init__.py); the .py stays plain.
import cython
cdef class NikSerials:
    cdef public str prefix
    cdef public dict _next
    cdef public int _first
    cdef public int _limit
    @cython.locals(n=cython.int)
    cpdef object nik(self, int key, prefix=*)

cdef class KkSerials:
    cdef public dict _local
    cdef public dict _movers
    cdef public int _mover_serial
    cdef public int _mover_day0
    @cython.locals(key=cython.int, n=cython.int)
    cpdef object local(self, str prefix, int issue_ord)
    cpdef object mover(self, int residence, int start)
