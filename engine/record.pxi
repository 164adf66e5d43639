# The stored record: a fixed header, then length-prefixed UTF-8 texts. Layout
# (little-endian), computed in engine/constants.py from FIELDS, mirrored by engine/record.py,
# documented in docs/index-format.md:
#   0 u64 xxh3-64 of bytes 8.. seeded with the NIK   8 u8 format
#   OFF_CODES.. one byte per coded field, in CODED_FIELDS order (life and card status first)
#   then the fixed slots (region codes, RT/RW, dates, NO_KK) at their OFF_* offsets
#   HEADER.. one u8 length + bytes per text field, in TEXT_FIELDS order
# The offsets (OFF_*), HEADER, RECORD_FORMAT, N_TEXTS and the field numbers (F_*) come from
# engine/constants.py (HEADER_FIELDS, TEXT_FIELDS) through _constants.pxi.

cdef extern from "xxhash.h" nogil:
    ctypedef unsigned long long XXH64_hash_t
    XXH64_hash_t XXH3_64bits_withSeed(const void *data, size_t len, XXH64_hash_t seed)

# Byte offset of each coded field's code in the header; -1 where not a one-byte code.
cdef int _code_offset[MAX_FIELDS]
# Index among the texts (0 .. N_TEXTS-1) of each text field; -1 otherwise.
cdef int _text_index[MAX_FIELDS]


cdef void _init_layout() noexcept:
    cdef int i
    for i in range(MAX_FIELDS):
        _code_offset[i] = -1
        _text_index[i] = -1
    for i in range(N_CODES):
        _code_offset[CODED_FIELDS[i]] = OFF_CODES + i   # one byte each, in order
    for i in range(N_TEXTS):
        _text_index[TEXT_FIELDS[i]] = i

_init_layout()


cdef inline uint16_t _u16(const unsigned char *p) noexcept nogil:
    return <uint16_t>(p[0] | (p[1] << 8))

cdef inline int32_t _i32(const unsigned char *p) noexcept nogil:
    cdef int32_t v
    memcpy(&v, p, 4)
    return v

cdef inline uint64_t _u64(const unsigned char *p) noexcept nogil:
    cdef uint64_t v
    memcpy(&v, p, 8)
    return v


cdef inline bint record_intact(uint64_t nik, const unsigned char *v, size_t n) noexcept nogil:
    """True when the record is well-formed and its checksum matches."""
    cdef size_t pos = HEADER
    cdef int i
    if n < HEADER + N_TEXTS or v[8] != RECORD_FORMAT:
        return False
    for i in range(N_TEXTS):
        if pos >= n:
            return False
        pos += 1 + v[pos]
    if pos != n:
        return False
    return _u64(v) == XXH3_64bits_withSeed(v + 8, n - 8, nik)


cdef inline const unsigned char *record_text(const unsigned char *v, int index, int *length) noexcept nogil:
    cdef size_t pos = HEADER
    cdef int i
    for i in range(index):
        pos += 1 + v[pos]
    length[0] = v[pos]
    return v + pos + 1


cdef inline int64_t record_number(const unsigned char *v, int field) noexcept nogil:
    """The integer a non-text field is compared by (codes, dates, region parts, NO_KK)."""
    cdef int off = _code_offset[field]
    if off >= 0:
        return v[off]
    if field == F_NO_KK:
        return <int64_t>_u64(v + OFF_NO_KK)
    if field == F_TGL_LHR:
        return _i32(v + OFF_TGL_LHR)
    if field == F_TGL_MATI:
        return _i32(v + OFF_TGL_MATI)
    if field == F_NO_RT:
        return _u16(v + OFF_NO_RT)
    if field == F_NO_RW:
        return _u16(v + OFF_NO_RW)
    if field == F_NO_PROP:
        return v[OFF_NO_PROP]
    if field == F_NO_KAB:
        return v[OFF_NO_KAB]
    if field == F_NO_KEC:
        return v[OFF_NO_KEC]
    if field == F_NO_KEL:
        return _u16(v + OFF_NO_KEL)
    return -1


def seal_record(uint64_t nik, bytearray value):
    """Write format byte and checksum into a record built by the encoder; returns bytes."""
    cdef unsigned char *v = <unsigned char *>value
    cdef uint64_t h
    v[8] = RECORD_FORMAT
    h = XXH3_64bits_withSeed(v + 8, len(value) - 8, nik)
    memcpy(v, &h, 8)
    return bytes(value)


def py_record_intact(uint64_t nik, const unsigned char[:] value):
    if value.shape[0] == 0:
        return False
    return record_intact(nik, &value[0], value.shape[0])
