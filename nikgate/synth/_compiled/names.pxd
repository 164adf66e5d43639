# Types for the compiled twin of nikgate/synth/names.py (see __init__.py); the .py stays plain.
import cython
@cython.locals(f=cython.bint, era=cython.int, islam=cython.bint, christian=cython.bint, r=cython.double)
cpdef str core_name(object rng, int group, int sex, int year, str religion, str surname=*, int order=*, bint noble=*)
cpdef str decorate(object rng, str name, int sex, int age, int year, str religion, int education, bint doctor)
cpdef str _pair(tuple a, tuple b, object rnd)
cpdef str family_name(object rng, int group, int sub, str religion)
