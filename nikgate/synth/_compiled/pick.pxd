import cython
cdef class Weighted:
    cdef public tuple items
    cdef public list cum
    cdef public double total
    cpdef object pick(self, object rnd)
cpdef object uniform(object seq, object rnd)
