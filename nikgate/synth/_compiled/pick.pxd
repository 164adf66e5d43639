# Types for the compiled twin of nikgate/synth/pick.py (see __init__.py); the .py stays plain.
import cython
cdef class Weighted:
    cdef public tuple items
    cdef public list cum
    cdef public double total
    cpdef object pick(self, object rnd)
cpdef object uniform(object seq, object rnd)
