# Records in two forms (layouts computed in engine/constants.py from FIELDS, mirrored by
# engine/record.py, documented in docs/index-format.md):
#
# The packed row, what the encoders produce (encode.pxi, record.py RowEncoder) and the
# build's arena and run files hold: a fixed little-endian header, then length-prefixed
# UTF-8 texts.
#   0 u64 xxh3-64 of bytes 8.. seeded with the NIK   8 u8 format (RECORD_FORMAT)
#   OFF_CODES.. one byte per coded field, in CODED_FIELDS order (life and card status first)
#   then the fixed slots (region codes, RT/RW, dates, NO_KK) at their OFF_* offsets
#   HEADER.. one u8 length + bytes per text field, in TEXT_FIELDS order
#
# The stored record, what the index holds (store_record makes it from a packed row):
#   0 u32 low half of xxh3-64 of bytes 4.. seeded with the NIK   4 u8 STORED_FORMAT
#   BITS_AT.. BITS_BYTES of bit field (BIT_*: the codes, NO_KEL, RT, RW and four flags)
#   [u8 NO_PROP, NO_KAB, NO_KEC when not the NIK's (REGION_OWN)]
#   NO_KK: u40 of its last 10 digits when its first 6 are the NIK's, else u56 (KK_OWN)
#   [i32 TGL_LHR day number when the NIK's DDMMYY does not give it with a century (BIRTH)]
#   [varint TGL_MATI - TGL_LHR in days (DEAD)]
#   per text, in TEXT_FIELDS order: a varint length and the payload (tokens.pxi)
# The offsets (OFF_*, BIT_*), HEADER, the formats, N_TEXTS and the field numbers (F_*) come
# from engine/constants.py through _constants.pxi.

cdef extern from "xxhash.h" nogil:
    ctypedef unsigned long long XXH64_hash_t
    XXH64_hash_t XXH3_64bits_withSeed(const void *data, size_t len, XXH64_hash_t seed)

# Byte offset of each coded field's code in the packed header; -1 where not a one-byte code.
cdef int _code_offset[MAX_FIELDS]
# Index among the texts (0 .. N_TEXTS-1) of each text field; -1 otherwise.
cdef int _text_index[MAX_FIELDS]

DEF STORE_MAX = 2048   # a stored record's upper bound (~1,330 bytes)
cdef extern from *:
    """#define NIKGATE_E10 10000000000ULL"""
    const uint64_t E10 "NIKGATE_E10"   # a NIK's last 10 digits: the rest is its district


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

cdef inline uint32_t _u32(const unsigned char *p) noexcept nogil:
    cdef uint32_t v
    memcpy(&v, p, 4)
    return v


cdef inline bint packed_intact(uint64_t nik, const unsigned char *v, size_t n) noexcept nogil:
    """True when a packed row is well-formed and its checksum matches."""
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


cdef struct RecView:
    int64_t num[MAX_FIELDS]               # every non-text field's number, by field
    const unsigned char *text[N_TEXTS]    # each text's stored payload
    int text_len[N_TEXTS]


cdef inline uint64_t _bits(const unsigned char *b, int start, int width) noexcept nogil:
    """`width` bits from bit `start` of a bit field copied into a zero-padded 16 bytes."""
    cdef uint64_t w
    memcpy(&w, b + (start >> 3), 8)
    return (w >> (start & 7)) & ((<uint64_t>1 << width) - 1)


cdef inline void _set_bits(unsigned char *b, int start, int width, uint64_t value) noexcept nogil:
    cdef uint64_t w
    memcpy(&w, b + (start >> 3), 8)
    w |= value << (start & 7)
    memcpy(b + (start >> 3), &w, 8)


cdef int64_t _nik_birth(uint64_t nik, int century) noexcept nogil:
    """The day number of the birth date the NIK's DDMMYY gives in `century` (1800, 1900,
    2000), or -1 when that is not a date."""
    cdef int dd = <int>((nik // 100000000ULL) % 100)
    cdef int mm = <int>((nik // 1000000ULL) % 100)
    cdef int y = century + <int>((nik // 10000ULL) % 100)
    if dd > 40:
        dd -= 40
    if mm < 1 or mm > 12 or dd < 1 or dd > days_in_month(mm, is_leap(y)):
        return -1
    return ordinal_of(y, mm, dd)


cdef int _CENTURY[3]
_CENTURY[:] = [1900, 2000, 1800]


cdef int store_record(uint64_t nik, const unsigned char *p, size_t n, TokenDictionary d,
                      unsigned char *out) noexcept nogil:
    """The stored form of a packed row, into `out` (STORE_MAX bytes); its length, or -1 when
    the row is damaged or holds a value the stored form cannot (no encoder makes one).
    `d` must have its hash index (TokenDictionary._index)."""
    cdef unsigned char bits[16]
    cdef int i, c, birth_code = 3
    cdef size_t o, pos
    cdef int64_t birth, death, code
    cdef uint64_t kk, district = nik // E10, h
    cdef uint32_t days
    cdef unsigned char tbuf[MAX_TEXT + 8]
    cdef int tl
    cdef int32_t i32
    if not packed_intact(nik, p, n):
        return -1
    memset(bits, 0, 16)
    for i in range(N_CODES):
        code = p[OFF_CODES + i]
        if code >> CODE_BITS[i]:
            return -1
        _set_bits(bits, CODE_SHIFT[i], CODE_BITS[i], <uint64_t>code)
    if _u16(p + OFF_NO_KEL) >= (1 << 14) or _u16(p + OFF_NO_RT) >= (1 << 10) \
            or _u16(p + OFF_NO_RW) >= (1 << 10):
        return -1
    _set_bits(bits, BIT_NO_KEL, 14, _u16(p + OFF_NO_KEL))
    _set_bits(bits, BIT_NO_RT, 10, _u16(p + OFF_NO_RT))
    _set_bits(bits, BIT_NO_RW, 10, _u16(p + OFF_NO_RW))
    o = BITS_AT + BITS_BYTES
    if <uint64_t>(p[OFF_NO_PROP] * 10000 + p[OFF_NO_KAB] * 100 + p[OFF_NO_KEC]) != district:
        _set_bits(bits, BIT_REGION_OWN, 1, 1)
        out[o] = p[OFF_NO_PROP]
        out[o + 1] = p[OFF_NO_KAB]
        out[o + 2] = p[OFF_NO_KEC]
        o += 3
    kk = _u64(p + OFF_NO_KK)
    if kk // E10 == district:
        kk %= E10
        memcpy(out + o, &kk, 5)
        o += 5
    else:
        if kk >> 56:
            return -1
        _set_bits(bits, BIT_KK_OWN, 1, 1)
        memcpy(out + o, &kk, 7)
        o += 7
    birth = _i32(p + OFF_TGL_LHR)
    for c in range(3):
        if _nik_birth(nik, _CENTURY[c]) == birth:
            birth_code = c
            break
    _set_bits(bits, BIT_BIRTH, 2, birth_code)
    if birth_code == 3:
        i32 = <int32_t>birth
        memcpy(out + o, &i32, 4)
        o += 4
    death = _i32(p + OFF_TGL_MATI)
    if death != 0:
        if death < birth or death - birth >= (<int64_t>1 << 32):
            return -1
        _set_bits(bits, BIT_DEAD, 1, 1)
        o += put_varint(out + o, <uint32_t>(death - birth))
    memcpy(out + BITS_AT, bits, BITS_BYTES)
    pos = HEADER
    for i in range(N_TEXTS):
        tl = d.encode_text(p + pos + 1, p[pos], tbuf)
        o += put_varint(out + o, <uint32_t>tl)
        memcpy(out + o, tbuf, tl)
        o += tl
        pos += 1 + p[pos]
    out[CHECKSUM_BYTES] = STORED_FORMAT
    h = XXH3_64bits_withSeed(out + CHECKSUM_BYTES, o - CHECKSUM_BYTES, nik)
    memcpy(out, &h, 4)   # little-endian: the low 32 bits
    return <int>o


cdef bint unpack_record(uint64_t nik, const unsigned char *v, size_t n, RecView *r,
                        bint check) noexcept nogil:
    """Read a stored record's numbers and find its texts; False when it is malformed or,
    with `check`, its checksum does not match. Texts are decoded on demand (view_text)."""
    cdef unsigned char bits[16]
    cdef size_t pos = BITS_AT + BITS_BYTES
    cdef const unsigned char *end = v + n
    cdef uint64_t district = nik // E10, kk = 0
    cdef uint32_t x
    cdef int i, k, birth_code
    cdef int64_t birth
    # the layout is checked before the checksum: a damaged leaf can give a record a size
    # reaching past the map, which only a walk of its own lengths notices without reading
    if n < BITS_AT + BITS_BYTES + 5 + N_TEXTS or v[CHECKSUM_BYTES] != STORED_FORMAT:
        return False
    memset(bits, 0, 16)
    memcpy(bits, v + BITS_AT, BITS_BYTES)
    for i in range(N_CODES):
        r.num[CODED_FIELDS[i]] = <int64_t>_bits(bits, CODE_SHIFT[i], CODE_BITS[i])
    r.num[F_NO_KEL] = <int64_t>_bits(bits, BIT_NO_KEL, 14)
    r.num[F_NO_RT] = <int64_t>_bits(bits, BIT_NO_RT, 10)
    r.num[F_NO_RW] = <int64_t>_bits(bits, BIT_NO_RW, 10)
    if _bits(bits, BIT_REGION_OWN, 1):
        if pos + 3 > n:
            return False
        r.num[F_NO_PROP] = v[pos]
        r.num[F_NO_KAB] = v[pos + 1]
        r.num[F_NO_KEC] = v[pos + 2]
        pos += 3
    else:
        r.num[F_NO_PROP] = <int64_t>(district // 10000)
        r.num[F_NO_KAB] = <int64_t>(district // 100 % 100)
        r.num[F_NO_KEC] = <int64_t>(district % 100)
    if _bits(bits, BIT_KK_OWN, 1):
        if pos + 7 > n:
            return False
        memcpy(&kk, v + pos, 7)
        pos += 7
    else:
        if pos + 5 > n:
            return False
        memcpy(&kk, v + pos, 5)
        kk += district * E10
        pos += 5
    r.num[F_NO_KK] = <int64_t>kk
    birth_code = <int>_bits(bits, BIT_BIRTH, 2)
    if birth_code == 3:
        if pos + 4 > n:
            return False
        birth = _i32(v + pos)
        pos += 4
    else:
        birth = _nik_birth(nik, _CENTURY[birth_code])
        if birth < 0:
            return False
    r.num[F_TGL_LHR] = birth
    r.num[F_TGL_MATI] = 0
    if _bits(bits, BIT_DEAD, 1):
        k = get_varint(v + pos, end, &x)
        if k == 0:
            return False
        r.num[F_TGL_MATI] = birth + x
        pos += k
    for i in range(N_TEXTS):
        k = get_varint(v + pos, end, &x)
        if k == 0 or x > MAX_TEXT + 1 or pos + k + x > n:
            return False
        r.text[i] = v + pos + k
        r.text_len[i] = <int>x
        pos += k + x
    if pos != n:
        return False
    return not check or _u32(v) == <uint32_t>XXH3_64bits_withSeed(v + CHECKSUM_BYTES,
                                                                 n - CHECKSUM_BYTES, nik)


cdef inline int view_text(const TokDict *d, const RecView *r, int index,
                          unsigned char *out) noexcept nogil:
    """Text `index` of an unpacked record into `out` (MAX_TEXT + 1 bytes): its length, or
    -1 when its payload does not decode with this dictionary."""
    return decode_text(d, r.text[index], r.text_len[index], out)


cdef bint record_sound(const TokDict *d, uint64_t nik, const unsigned char *v,
                       size_t n) noexcept nogil:
    """The whole check `nikgate index verify` makes of a record: layout, checksum, and
    every text decodes."""
    cdef RecView r
    cdef unsigned char buf[MAX_TEXT + 8]
    cdef int i
    if not unpack_record(nik, v, n, &r, True):
        return False
    for i in range(N_TEXTS):
        if view_text(d, &r, i, buf) < 0:
            return False
    return True


cdef inline int64_t record_number(const RecView *r, int field) noexcept nogil:
    """The integer a non-text field is compared by (codes, dates, region parts, NO_KK)."""
    return r.num[field]


cdef object expand_record(const TokDict *d, uint64_t nik, const unsigned char *v, size_t n):
    """The packed row a stored record was made from (the encoders' bytes), or None when it
    does not check or decode."""
    cdef RecView r
    cdef unsigned char buf[MAX_TEXT + 8]
    cdef bytearray out
    cdef unsigned char *o
    cdef int i, tl
    cdef uint16_t u16
    cdef int32_t i32
    cdef uint64_t u64
    cdef list texts = []
    if not unpack_record(nik, v, n, &r, True):
        return None
    for i in range(N_TEXTS):
        tl = view_text(d, &r, i, buf)
        if tl < 0:
            return None
        texts.append((<char *>buf)[:tl])
    out = bytearray(HEADER)
    o = out
    for i in range(N_CODES):
        o[OFF_CODES + i] = <unsigned char>r.num[CODED_FIELDS[i]]
    o[OFF_NO_PROP] = <unsigned char>r.num[F_NO_PROP]
    o[OFF_NO_KAB] = <unsigned char>r.num[F_NO_KAB]
    o[OFF_NO_KEC] = <unsigned char>r.num[F_NO_KEC]
    u16 = <uint16_t>r.num[F_NO_KEL]
    memcpy(o + OFF_NO_KEL, &u16, 2)
    u16 = <uint16_t>r.num[F_NO_RT]
    memcpy(o + OFF_NO_RT, &u16, 2)
    u16 = <uint16_t>r.num[F_NO_RW]
    memcpy(o + OFF_NO_RW, &u16, 2)
    i32 = <int32_t>r.num[F_TGL_LHR]
    memcpy(o + OFF_TGL_LHR, &i32, 4)
    i32 = <int32_t>r.num[F_TGL_MATI]
    memcpy(o + OFF_TGL_MATI, &i32, 4)
    u64 = <uint64_t>r.num[F_NO_KK]
    memcpy(o + OFF_NO_KK, &u64, 8)
    for t in texts:
        out.append(len(t))
        out.extend(t)
    return seal_record(nik, out)


def seal_record(uint64_t nik, bytearray value):
    """Write format byte and checksum into a record built by the encoder; returns bytes."""
    cdef unsigned char *v = <unsigned char *>value
    cdef uint64_t h
    v[8] = RECORD_FORMAT
    h = XXH3_64bits_withSeed(v + 8, len(value) - 8, nik)
    memcpy(v, &h, 8)
    return bytes(value)


def py_record_intact(uint64_t nik, const unsigned char[:] value):
    """Whether a stored record's layout and checksum hold (not its texts' token ids)."""
    cdef RecView r
    if value.shape[0] == 0:
        return False
    return unpack_record(nik, &value[0], value.shape[0], &r, True)


def py_packed_intact(uint64_t nik, const unsigned char[:] value):
    if value.shape[0] == 0:
        return False
    return packed_intact(nik, &value[0], value.shape[0])


def store_packed(uint64_t nik, bytes packed, TokenDictionary dictionary):
    """The stored record of a packed row with `dictionary` (tests and tools); ValueError
    when the row is damaged."""
    cdef unsigned char out[STORE_MAX]
    cdef int n
    dictionary._index()
    n = store_record(nik, <const unsigned char *>packed, len(packed), dictionary, out)
    if n < 0:
        raise ValueError("not a sound packed row")
    return (<char *>out)[:n]


def expand_stored(uint64_t nik, bytes stored, TokenDictionary dictionary):
    """The packed row of a stored record, or None when it does not check or decode."""
    return expand_record(&dictionary.d, nik, <const unsigned char *>stored, len(stored))
