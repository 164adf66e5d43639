"""Build steps pyproject.toml cannot declare: the Cython core (and, later, the gRPC stubs).

NIKGATE_CYTHON_TRACE=1 builds the core with line tracing and writes an annotated HTML
report beside the .pyx, for profiling; never for production.
"""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

TRACE = os.environ.get("NIKGATE_CYTHON_TRACE") == "1"

core = Extension(
    "nikgate.engine._core",
    sources=["engine/_core.pyx"],
    libraries=["lmdb"],
    # xxh3 is used header-only (inlined), so only liblmdb is linked.
    define_macros=[("XXH_INLINE_ALL", "1")] + ([("CYTHON_TRACE_NOGIL", "1")] if TRACE else []),
    extra_compile_args=["-O3", "-fno-strict-aliasing"],
)

setup(
    ext_modules=cythonize(
        [core],
        language_level=3,
        annotate=TRACE,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "linetrace": TRACE,
            "embedsignature": True,
        },
    ),
)
