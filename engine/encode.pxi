# The build's hot path: warehouse rows parsed and packed into records in C.
#
# ExportParser splits CSV bytes into records (RFC 4180 quoting) and packs each plain
# ASCII row without creating a Python object per field. A row it cannot take on the fast
# path (quoted fields, non-ASCII text, or anything invalid) is decoded and handed to the
# reference encoder (record.RowEncoder), which either packs it or raises the rejection
# with its message: one source of truth for what is rejected and why. Property tests
# check that both paths accept the same rows and produce the same bytes.


DEF MAX_WIDTH = 256

# A row's columns come in schema.REQUIRED_COLUMNS order; COLUMN_FIELDS names the field of
# each, and the packer indexes a row's texts by field (p[F_TGL_LHR] is the birth date's
# text), so no field number is tied to a column position. The coded fields are checked in
# CODED_FIELDS order (life, card, sex first), the order of the header bytes they go to;
# N_COLUMNS, N_CODES, MAX_CODES, COLUMN_MAY_BE_EMPTY and the field lists come from
# engine/constants.py (FIELDS) through _constants.pxi.

cdef Entry _codes[N_CODES][MAX_CODES]
cdef int _n_codes[N_CODES]
cdef uint64_t *_villages = NULL
cdef Py_ssize_t _n_villages = 0


def init_ingest_tables(list code_tables, villages):
    """code_tables: per entry of CODED_FIELDS, the value names (code = position + 1);
    villages: every known village code (int)."""
    global _villages, _n_villages
    cdef int i
    if len(code_tables) != N_CODES:
        raise ValueError(f"{N_CODES} code tables expected, got {len(code_tables)}")
    for i in range(N_CODES):
        _n_codes[i] = _fill(_codes[i], MAX_CODES,
                            [(name.encode(), name.encode()) for name in code_tables[i]])
    ordered = sorted(villages)
    free(_villages)
    _villages = <uint64_t *>malloc(max(len(ordered), 1) * sizeof(uint64_t))
    if _villages == NULL:
        raise MemoryError()
    for i in range(len(ordered)):
        _villages[i] = ordered[i]
    _n_villages = len(ordered)


cdef bint _village_known(uint64_t code) noexcept nogil:
    cdef Py_ssize_t lo = 0, hi = _n_villages, mid
    while lo < hi:
        mid = (lo + hi) // 2
        if _villages[mid] < code:
            lo = mid + 1
        else:
            hi = mid
    return lo < _n_villages and _villages[lo] == code


cdef object _pack(const char **p, Py_ssize_t *n, int64_t today, int64_t earliest):
    """(NIK, record) for a row whose every check passes; None when any check fails.
    p and n are indexed by field number (MAX_FIELDS long; only stored fields are set)."""
    cdef int i, k, pos
    cdef uint64_t nik = 0
    cdef int codes[N_CODES]
    cdef int64_t birth, death = 0, no_kk, rt, rw, prop, kab, kec, kel, expect
    cdef int y, m, d
    cdef Py_ssize_t total
    cdef bytes out
    cdef unsigned char *v
    cdef uint64_t h
    cdef uint16_t u16
    cdef int32_t i32

    for i in range(N_COLUMNS):
        if n[COLUMN_FIELDS[i]] == 0 and not COLUMN_MAY_BE_EMPTY[i]:
            return None
    if nik_parse(<const unsigned char *>p[F_NIK], n[F_NIK], &nik, &pos) != NIK_OK:
        return None
    for i in range(N_CODES):
        k = CODED_FIELDS[i]
        if n[k] == 0:
            codes[i] = 0
            continue
        codes[i] = _find(_codes[i], _n_codes[i], <const unsigned char *>p[k], <int>n[k]) + 1
        if codes[i] == 0:
            return None
    if codes[AT_STATUS_HIDUP] == 0 or codes[AT_STATUS_KTP] == 0 or codes[AT_JENIS_KLMIN] == 0:
        return None   # life, card and sex are required
    birth = parse_iso_date(<const unsigned char *>p[F_TGL_LHR], n[F_TGL_LHR])
    if birth < earliest or birth > today:
        return None
    civil_of(birth, &y, &m, &d)
    expect = (d + (40 if codes[AT_JENIS_KLMIN] == SEX_PEREMPUAN else 0)) * 10000 \
        + m * 100 + y % 100
    if expect != <int64_t>((nik // 10000) % 1000000):
        return None
    if codes[AT_STATUS_HIDUP] == LIFE_MATI:
        death = parse_iso_date(<const unsigned char *>p[F_TGL_MATI], n[F_TGL_MATI])
        if death < earliest or death > today or death < birth:
            return None
    elif n[F_TGL_MATI] != 0:
        return None
    no_kk = parse_digits(<const unsigned char *>p[F_NO_KK], n[F_NO_KK], 16)
    rt = parse_digits(<const unsigned char *>p[F_NO_RT], n[F_NO_RT], 3)
    rw = parse_digits(<const unsigned char *>p[F_NO_RW], n[F_NO_RW], 3)
    prop = parse_digits(<const unsigned char *>p[F_NO_PROP], n[F_NO_PROP], 2)
    kab = parse_digits(<const unsigned char *>p[F_NO_KAB], n[F_NO_KAB], 2)
    kec = parse_digits(<const unsigned char *>p[F_NO_KEC], n[F_NO_KEC], 2)
    kel = parse_digits(<const unsigned char *>p[F_NO_KEL], n[F_NO_KEL], 4)
    if (no_kk < 0 or n[F_NO_KK] != 16 or rt < 0 or rw < 0 or prop < 0 or n[F_NO_PROP] != 2
            or kab < 0 or n[F_NO_KAB] != 2 or kec < 0 or n[F_NO_KEC] != 2 or kel < 0
            or n[F_NO_KEL] != 4):
        return None
    if not _district_ok[prop * 10000 + kab * 100 + kec]:
        return None
    if not _village_known(<uint64_t>((prop * 10000 + kab * 100 + kec) * 10000 + kel)):
        return None
    total = HEADER
    for i in range(N_TEXTS):
        if n[TEXT_FIELDS[i]] > MAX_TEXT:
            return None
        total += 1 + n[TEXT_FIELDS[i]]

    out = PyBytes_FromStringAndSize(NULL, total)
    v = <unsigned char *>PyBytes_AS_STRING(out)
    memset(v, 0, HEADER)
    v[8] = RECORD_FORMAT
    for i in range(N_CODES):
        v[OFF_CODES + i] = codes[i]
    v[OFF_NO_PROP] = <unsigned char>prop
    v[OFF_NO_KAB] = <unsigned char>kab
    v[OFF_NO_KEC] = <unsigned char>kec
    u16 = <uint16_t>kel
    memcpy(v + OFF_NO_KEL, &u16, 2)
    u16 = <uint16_t>rt
    memcpy(v + OFF_NO_RT, &u16, 2)
    u16 = <uint16_t>rw
    memcpy(v + OFF_NO_RW, &u16, 2)
    i32 = <int32_t>birth
    memcpy(v + OFF_TGL_LHR, &i32, 4)
    i32 = <int32_t>death
    memcpy(v + OFF_TGL_MATI, &i32, 4)
    memcpy(v + OFF_NO_KK, &no_kk, 8)
    pos = HEADER
    for i in range(N_TEXTS):
        v[pos] = <unsigned char>n[TEXT_FIELDS[i]]
        memcpy(v + pos + 1, p[TEXT_FIELDS[i]], n[TEXT_FIELDS[i]])
        pos += 1 + n[TEXT_FIELDS[i]]
    h = XXH3_64bits_withSeed(v + 8, total - 8, nik)
    memcpy(v, &h, 8)
    return nik, out


cdef class FastRowEncoder:
    """Packs rows given as lists of str (deltas); the reference handles the rest."""
    cdef object reference
    cdef int64_t today
    cdef int64_t earliest

    def __init__(self, reference, int64_t today, int64_t earliest):
        self.reference = reference
        self.today = today
        self.earliest = earliest

    def encode(self, list row):
        """(NIK, record bytes), or the reference encoder's rejection."""
        cdef const char *p[MAX_FIELDS]
        cdef Py_ssize_t n[MAX_FIELDS]
        cdef int i, k
        if len(row) != N_COLUMNS:
            return self.reference.encode(row)
        for i in range(N_COLUMNS):
            k = COLUMN_FIELDS[i]
            p[k] = PyUnicode_AsUTF8AndSize(row[i], &n[k])  # raises unless a str
            if not PyUnicode_IS_ASCII(row[i]):
                # the reference stores text in normal form (NFKC); no other column packs
                # with non-ASCII bytes, so it has the last word on those rows either way
                return self.reference.encode(row)
        packed = _pack(p, n, self.today, self.earliest)
        return packed if packed is not None else self.reference.encode(row)


cdef class ExportParser:
    """Splits export bytes into records and packs them; feed() chunks in file order."""
    cdef int width
    cdef int colmap[N_COLUMNS]
    cdef object slow            # callable(line, record_bytes) -> (nik, value) or None
    cdef object reject          # callable(line, reason, message)
    cdef int64_t today
    cdef int64_t earliest
    cdef public Py_ssize_t line  # line number where the next record starts
    cdef public Py_ssize_t rows

    def __init__(self, int width, list colmap, slow, reject, int64_t today, int64_t earliest,
                 Py_ssize_t first_line):
        if width > MAX_WIDTH:
            raise ValueError(f"at most {MAX_WIDTH} columns")
        self.width = width
        for i in range(N_COLUMNS):
            self.colmap[i] = colmap[i]
        self.slow = slow
        self.reject = reject
        self.today = today
        self.earliest = earliest
        self.line = first_line
        self.rows = 0

    def feed(self, const unsigned char[:] buf, bint final, RecordArena out):
        """Parse whole records from buf, adding them to the arena `out`.

        Returns how many bytes were consumed; the caller keeps the rest (an unfinished
        record) and passes it again with the next chunk. Quoted fields without escaped
        quotes (a name with its degrees: "HERLINA, S.HUT") stay on the fast path; escaped
        or stray quotes and non-ASCII text take the careful one.
        """
        cdef Py_ssize_t end = buf.shape[0], pos = 0, start, rec_end, after
        cdef Py_ssize_t fstart[MAX_WIDTH]
        cdef Py_ssize_t fend[MAX_WIDTH]
        cdef unsigned char fquoted[MAX_WIDTH]
        cdef const char *p[MAX_FIELDS]
        cdef Py_ssize_t n[MAX_FIELDS]
        cdef const unsigned char *b
        cdef int nf, i, k, f, newlines
        cdef bint in_quotes, complex_, non_ascii, complete
        cdef unsigned char c
        cdef Py_ssize_t line
        if end == 0:
            return 0
        b = &buf[0]
        while pos < end:
            start = pos
            nf = 0
            newlines = 0
            in_quotes = False
            complex_ = False
            non_ascii = False
            complete = False
            fstart[0] = pos
            fquoted[0] = 0
            while pos < end:
                c = b[pos]
                if in_quotes:
                    if c == 34:
                        if pos + 1 < end and b[pos + 1] == 34:
                            complex_ = True  # an escaped quote: the csv module unescapes
                            pos += 2
                            continue
                        if pos + 1 == end and not final:
                            break  # cannot tell "" from a closing quote yet
                        in_quotes = False
                        if pos + 1 < end and b[pos + 1] not in (44, 10, 13):
                            complex_ = True  # text after the closing quote
                    elif c == 10:
                        newlines += 1
                    elif c >= 0x80:
                        non_ascii = True
                    pos += 1
                elif c == 44:
                    if nf < MAX_WIDTH:
                        fend[nf] = pos
                    nf += 1
                    pos += 1
                    if nf < MAX_WIDTH:
                        fstart[nf] = pos
                        fquoted[nf] = 0
                elif c == 10:
                    complete = True
                    break
                else:
                    if c == 34:
                        if nf < MAX_WIDTH and pos == fstart[nf]:
                            in_quotes = True
                            fquoted[nf] = 1
                        else:
                            complex_ = True  # a stray quote: let the csv module judge
                    elif c >= 0x80:
                        non_ascii = True
                    pos += 1
            if not complete:
                if not final:
                    return start
                rec_end = end
                after = end
            else:
                rec_end = pos
                after = pos + 1
                newlines += 1
            if rec_end > start and b[rec_end - 1] == 13:  # CRLF
                rec_end -= 1
            if nf < MAX_WIDTH:
                fend[nf] = rec_end
            nf += 1
            line = self.line
            self.line += newlines if complete else newlines + 1
            pos = after
            if rec_end == start:
                continue  # an empty line
            self.rows += 1
            if complex_ or non_ascii or in_quotes:
                packed = self.slow(line, bytes(buf[start:rec_end]))
                if packed is not None:
                    out.add(packed[0], line, packed[1])
                continue
            if nf != self.width:
                self.reject(line, "WRONG_FIELD_COUNT",
                            f"row has {nf} fields, the header has {self.width}")
                continue
            for i in range(N_COLUMNS):
                k = self.colmap[i]
                f = COLUMN_FIELDS[i]
                if fquoted[k]:
                    p[f] = <const char *>(b + fstart[k] + 1)
                    n[f] = fend[k] - fstart[k] - 2
                else:
                    p[f] = <const char *>(b + fstart[k])
                    n[f] = fend[k] - fstart[k]
            packed = _pack(p, n, self.today, self.earliest)
            if packed is None:
                packed = self.slow(line, bytes(buf[start:rec_end]))
                if packed is None:
                    continue
            out.add(packed[0], line, packed[1])
        return pos
