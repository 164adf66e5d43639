# cython: language_level=3
"""The compiled core of the NIK index: NIK parsing, record checks, text scoring, LMDB.

Callers use the facade (nikgate.engine); this module is its engine room. Pieces:
nik.pxi (NIK validation), record.pxi (record layout and checksum), names.pxi (text
normalisation and scoring), keyfile.pxi (the key file and key-set digest), store.pxi (LMDB
environment and writes), scan.pxi (integrity walk and the lookup-miss check), batch.pxi
(batch verification and lookup with the GIL released).
"""

from libc.stdint cimport uint8_t, uint16_t, int32_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport calloc, malloc, free, qsort, realloc
from libc.stdio cimport FILE, fopen, fwrite, fclose
from libc.string cimport memcmp, memcpy, memset, memchr
from cpython.long cimport PyLong_AsUnsignedLongLong
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_DecodeUTF8, PyUnicode_FromStringAndSize

include "lmdb.pxi"

include "nik.pxi"
include "record.pxi"
include "names.pxi"
include "keyfile.pxi"
include "store.pxi"
include "scan.pxi"
include "batch.pxi"
include "arena.pxi"
include "encode.pxi"
include "nikset.pxi"
