# Types for the compiled twin of nikgate/synth/render.py (see __init__.py); the .py stays plain.
import cython

@cython.locals(code=cython.int, quota=cython.int, left=cython.int, commas=cython.int,
               line=str, lines=list, rows=list)
cpdef str render(object seed, tuple chunk)
