# Batch verification and lookup. Three phases: (1) with the GIL, turn Python inputs into
# C arrays once; (2) without the GIL, read and check every record and compare claims in
# one read transaction; (3) with the GIL, build the columnar result.

# Item statuses (ITEM_*), outcomes (OUTCOME_*), field kinds (K_*) and MAX_FIELDS come from
# engine/constants.py through _constants.pxi.


cdef inline unsigned char _miss_status(Env env, MDB_txn *txn, uint64_t nik, int rc,
                                       int *side) noexcept nogil:
    """The status of a NIK mdb_get did not return. NOT_FOUND only when LMDB said "not
    found" and the key file and delta side table agree the index does not hold it; a
    NIK they hold is in a page the B-tree can no longer reach: CORRUPT, never "no such
    person". Runs only on a miss, so a found NIK pays nothing for it."""
    if rc != MDB_NOTFOUND:
        return ITEM_CORRUPT
    return ITEM_NOT_FOUND if key_stored(env, txn, nik, side) == 0 else ITEM_CORRUPT


cdef inline int64_t days_from_civil(int64_t y, int m, int d) noexcept nogil:
    cdef int64_t era, yoe, doy, doe
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef inline int64_t ordinal_of(int y, int m, int d) noexcept nogil:
    """date(y, m, d).toordinal()"""
    return days_from_civil(y, m, d) + 719163


cdef void civil_of(int64_t ordinal, int *y, int *m, int *d) noexcept nogil:
    cdef int64_t z = ordinal - 719163 + 719468
    cdef int64_t era = (z if z >= 0 else z - 146096) // 146097
    cdef int64_t doe = z - era * 146097
    cdef int64_t yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    cdef int64_t yy = yoe + era * 400
    cdef int64_t doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    cdef int64_t mp = (5 * doy + 2) // 153
    d[0] = <int>(doy - (153 * mp + 2) // 5 + 1)
    m[0] = <int>(mp + 3 if mp < 10 else mp - 9)
    y[0] = <int>(yy + (1 if m[0] <= 2 else 0))


cdef int64_t parse_iso_date(const unsigned char *s, Py_ssize_t n) noexcept nogil:
    """Ordinal of an exact YYYY-MM-DD, or -1."""
    cdef int i, y, m, d
    if n != 10 or s[4] != 45 or s[7] != 45:
        return -1
    for i in range(10):
        if i != 4 and i != 7 and not (48 <= s[i] <= 57):
            return -1
    y = (s[0] - 48) * 1000 + (s[1] - 48) * 100 + (s[2] - 48) * 10 + (s[3] - 48)
    m = (s[5] - 48) * 10 + (s[6] - 48)
    d = (s[8] - 48) * 10 + (s[9] - 48)
    if y < 1 or m < 1 or m > 12 or d < 1 or d > days_in_month(m, is_leap(y)):
        return -1
    return ordinal_of(y, m, d)


def py_parse_iso_date(str text):
    cdef Py_ssize_t n
    cdef const char *s = PyUnicode_AsUTF8AndSize(text, &n)
    return parse_iso_date(<const unsigned char *>s, n)


def py_iso_date(int64_t ordinal):
    cdef int y, m, d
    civil_of(ordinal, &y, &m, &d)
    return f"{y:04d}-{m:02d}-{d:02d}"


cdef int64_t parse_digits(const unsigned char *s, Py_ssize_t n, int max_digits) noexcept nogil:
    """A plain decimal number of 1..max_digits ASCII digits, or -1."""
    cdef Py_ssize_t i
    cdef int64_t v = 0
    if n < 1 or n > max_digits:
        return -1
    for i in range(n):
        if not (48 <= s[i] <= 57):
            return -1
        v = v * 10 + (s[i] - 48)
    return v


cdef struct FieldPlan:
    int field
    int kind
    int text_kind
    int threshold
    int text_index


cdef struct Claim:
    const unsigned char *text
    int64_t len      # text length, or the number for exact fields; -1 = not provided
    # exact fields keep the value in `len` and leave `text` NULL


cdef int _nik_from(object nik, uint64_t *value, int *pos) except -1:
    """Check a NIK given as str, or as an int (API clients may send numbers)."""
    cdef Py_ssize_t n
    cdef const char *s
    cdef uint64_t v
    if isinstance(nik, int):
        if nik < 1000000000000000 or nik > 9999999999999999:
            pos[0] = len(str(nik)) if nik >= 0 else 0
            return NIK_LENGTH
        v = nik
        return nik_check_value(v, value)
    s = PyUnicode_AsUTF8AndSize(nik, &n)
    return nik_parse(<const unsigned char *>s, n, value, pos)


def verify_batch(Env env, list niks, list plan, list columns, list code_maps):
    """Verify claims for many NIKs in one read transaction.

    plan: (field, kind, text_kind, threshold) per claimed field; columns: one list of
    claimed strings (None = not provided) per field, each as long as `niks`; code_maps: per
    field a dict from accepted spellings to codes, or None.
    Returns (status, life, card, outcomes, scores, problems) where outcomes and scores are
    item-major (n * fields) and problems maps an item index to (kind, detail) for items
    that could not be verified: ("nik", (reason, pos)) or ("claim", (field, value)).
    """
    cdef Py_ssize_t n = len(niks), i, f
    cdef int nf = len(plan), pos, reason, score
    cdef FieldPlan fp[MAX_FIELDS]
    cdef Claim *claims = NULL
    cdef uint64_t *keys = NULL
    cdef bytearray status = bytearray(n)
    cdef bytearray life = bytearray(n)
    cdef bytearray card = bytearray(n)
    cdef bytearray outcomes = bytearray(n * nf)
    cdef bytearray scores = bytearray(n * nf)
    cdef unsigned char *st = status
    cdef unsigned char *lf = life
    cdef unsigned char *cd = card
    cdef unsigned char *oc = outcomes
    cdef unsigned char *sc = scores
    cdef dict problems = {}
    cdef list normalized = []   # claimed texts put in normal form: alive until the end
    cdef list col
    cdef object value, code
    cdef Py_ssize_t slen
    cdef const char *s
    cdef int64_t num
    cdef MDB_txn *txn = NULL
    cdef MDB_val k, v
    cdef unsigned char key[8]
    cdef const unsigned char *rec
    cdef RecView view
    cdef unsigned char stored[MAX_TEXT + 8]   # a stored text, decoded
    cdef int stored_len
    cdef const TokDict *tokd = &env.tokd
    cdef Claim *c
    cdef int rc = 0
    cdef int side = -1   # whether the delta side table has entries, asked on a first miss

    if nf > MAX_FIELDS:
        raise ValueError(f"at most {MAX_FIELDS} claimed fields")
    for f in range(nf):
        fp[f].field, fp[f].kind, fp[f].text_kind, fp[f].threshold = plan[f]
        fp[f].text_index = _text_index[fp[f].field]
        if len(columns[f]) != n:
            raise ValueError("every claim column must be as long as the NIK list")
    env._reading()
    keys = <uint64_t *>malloc(max(n, 1) * sizeof(uint64_t))
    claims = <Claim *>malloc(max(n * nf, 1) * sizeof(Claim))
    if keys == NULL or claims == NULL:
        free(keys)
        free(claims)
        raise MemoryError()
    env._enter()  # the environment stays open until this read ends
    try:
        # phase 1: inputs to C
        for i in range(n):
            reason = _nik_from(niks[i], &keys[i], &pos)
            if reason != NIK_OK:
                st[i] = ITEM_INVALID_NIK
                problems[i] = ("nik", (reason, pos))
        for f in range(nf):
            col = <list>columns[f]
            for i in range(n):
                c = &claims[i * nf + f]
                c.text = NULL
                c.len = -1
                value = col[i]
                if value is None or st[i] != 0:
                    continue
                s = PyUnicode_AsUTF8AndSize(value, &slen)
                if slen == 0:
                    continue
                kind = fp[f].kind
                if kind == K_TEXT:
                    if slen > MAX_TEXT:
                        num = -2
                    else:
                        if not PyUnicode_IS_ASCII(value):  # NFKC form (names.pxi), kept alive
                            value = normal_text(value)
                            normalized.append(value)
                            s = PyUnicode_AsUTF8AndSize(value, &slen)
                        c.text = <const unsigned char *>s
                        num = slen
                elif kind == K_DATE:
                    num = parse_iso_date(<const unsigned char *>s, slen)
                    if num < 0:
                        num = -2
                elif kind == K_CODE:
                    code = (<dict>code_maps[f]).get(value)
                    if code is None:
                        code = (<dict>code_maps[f]).get(value.strip().upper())
                    num = -2 if code is None else <int64_t>code
                elif kind == K_NUMBER16:
                    num = parse_digits(<const unsigned char *>s, slen, 16)
                    if num < 0 or slen != 16:
                        num = -2
                else:  # small numbers and region parts
                    num = parse_digits(<const unsigned char *>s, slen, 4)
                    if num < 0:
                        num = -2
                if num == -2:
                    st[i] = ITEM_INVALID_CLAIM
                    problems[i] = ("claim", (fp[f].field, value))
                else:
                    c.len = num

        # phase 2: reads and comparisons, GIL released
        with nogil:
            # In request order: sorting a batch's keys first was measured slower at 10M
            # records (a random batch shares almost no leaf pages; the sort is pure cost).
            rc = mdb_txn_begin(env.env, NULL, MDB_RDONLY, &txn)
            if rc == MDB_SUCCESS:
                for i in range(n):
                    if st[i] != 0:
                        continue
                    _key_of(keys[i], key)
                    k.mv_size = 8
                    k.mv_data = key
                    rc = mdb_get(txn, env.records, &k, &v)
                    if rc != MDB_SUCCESS:
                        st[i] = _miss_status(env, txn, keys[i], rc, &side)
                        if rc == MDB_NOTFOUND:
                            rc = MDB_SUCCESS
                        else:
                            # an LMDB error leaves the transaction unusable: go on in a new one
                            side = -1
                            mdb_txn_abort(txn)
                            txn = NULL
                            rc = mdb_txn_begin(env.env, NULL, MDB_RDONLY, &txn)
                            if rc != MDB_SUCCESS:
                                txn = NULL
                                break
                        continue
                    rec = <const unsigned char *>v.mv_data
                    if not unpack_record(keys[i], rec, v.mv_size, &view, True):
                        st[i] = ITEM_CORRUPT
                        continue
                    st[i] = ITEM_FOUND
                    lf[i] = <unsigned char>view.num[F_STATUS_HIDUP]
                    cd[i] = <unsigned char>view.num[F_STATUS_KTP]
                    for f in range(nf):
                        c = &claims[i * nf + f]
                        if c.len < 0:
                            oc[i * nf + f] = OUTCOME_NOT_PROVIDED
                            continue
                        if fp[f].kind == K_TEXT:
                            stored_len = view_text(tokd, &view, fp[f].text_index, stored)
                            if stored_len < 0:   # a token id the dictionary lacks
                                st[i] = ITEM_CORRUPT
                                break
                            score = text_score(stored, stored_len, c.text, <int>c.len,
                                               fp[f].text_kind)
                        else:
                            score = 100 if record_number(&view, fp[f].field) == c.len else 0
                        sc[i * nf + f] = score
                        oc[i * nf + f] = OUTCOME_MATCH if score >= fp[f].threshold else OUTCOME_NO_MATCH
                    if st[i] == ITEM_CORRUPT:
                        lf[i] = 0
                        cd[i] = 0
                        memset(oc + i * nf, 0, nf)
                        memset(sc + i * nf, 0, nf)
                if txn != NULL:
                    mdb_txn_abort(txn)
        _check(rc, "begin read")
    finally:
        env._leave()
        free(keys)
        free(claims)
    return status, life, card, outcomes, scores, problems


cdef inline object _digits(uint64_t value, int width):
    """value as a zero-padded decimal str of `width` digits, built in C (no formatting)."""
    cdef char buf[24]
    cdef int i
    for i in range(width - 1, -1, -1):
        buf[i] = <char>(48 + value % 10)
        value //= 10
    return PyUnicode_FromStringAndSize(buf, width)


cdef inline object _iso_date(int64_t ordinal):
    cdef char buf[10]
    cdef int y, m, d
    civil_of(ordinal, &y, &m, &d)
    buf[0] = <char>(48 + y // 1000 % 10)
    buf[1] = <char>(48 + y // 100 % 10)
    buf[2] = <char>(48 + y // 10 % 10)
    buf[3] = <char>(48 + y % 10)
    buf[4] = 45
    buf[5] = <char>(48 + m // 10)
    buf[6] = <char>(48 + m % 10)
    buf[7] = 45
    buf[8] = <char>(48 + d // 10)
    buf[9] = <char>(48 + d % 10)
    return PyUnicode_FromStringAndSize(buf, 10)


cdef object _decode_field(const TokDict *tokd, const RecView *rec, uint64_t nik, int field,
                          int kind, list names, bint *bad):
    # Runs with the GIL held: keep it to one object allocation per value.
    cdef int length
    cdef int64_t num
    cdef unsigned char buf[MAX_TEXT + 8]
    if kind == K_TEXT:
        length = view_text(tokd, rec, _text_index[field], buf)
        if length < 0:
            bad[0] = True
            return None
        return PyUnicode_DecodeUTF8(<const char *>buf, length, "replace")
    if kind == K_NIK:
        return _digits(nik, 16)
    if kind == K_REGION_NAME:
        return None  # filled by the facade from the region table
    num = record_number(rec, field)
    if kind == K_CODE:
        return names[num] if 0 < num < len(names) else None
    if kind == K_DATE:
        return _iso_date(num) if num != 0 else None
    if kind == K_NUMBER16:
        return _digits(<uint64_t>num, 16)
    if kind == K_SMALLINT:
        return _digits(<uint64_t>num, 3)
    return _digits(<uint64_t>num, 4 if field == F_NO_KEL else 2)


def lookup_batch(Env env, list niks, list plan, list code_names):
    """Read the requested fields of many NIKs in one read transaction.

    plan: (field, kind) per requested field; code_names: per field the list of names by
    code (index 0 = no value) or None. Returns (status, columns, problems, regions) where
    columns[f][i] is the value (None where absent or the item was not found) and regions[i]
    is the stored (province, regency, district, village) codes of found items.
    """
    cdef Py_ssize_t n = len(niks), i, seg_start, seg_end
    cdef int nf = len(plan), f, pos, reason
    cdef uint64_t *keys = NULL
    cdef const unsigned char **recs = NULL
    cdef size_t *lens = NULL
    cdef RecView view
    cdef bint bad
    cdef bytearray status = bytearray(n)
    cdef unsigned char *st = status
    cdef dict problems = {}
    cdef list columns = [[None] * n for _ in range(nf)]
    cdef list regions = [None] * n
    cdef int fields[MAX_FIELDS]
    cdef int kinds[MAX_FIELDS]
    cdef MDB_txn *txn = NULL
    cdef MDB_val k, v
    cdef unsigned char key[8]
    cdef int rc = 0, rc_get, side
    cdef const unsigned char *rec

    if nf > MAX_FIELDS:
        raise ValueError(f"at most {MAX_FIELDS} fields")
    for f in range(nf):
        fields[f], kinds[f] = plan[f]
    env._reading()
    keys = <uint64_t *>malloc(max(n, 1) * sizeof(uint64_t))
    recs = <const unsigned char **>malloc(max(n, 1) * sizeof(void *))
    lens = <size_t *>malloc(max(n, 1) * sizeof(size_t))
    if keys == NULL or recs == NULL or lens == NULL:
        free(keys)
        free(recs)
        free(lens)
        raise MemoryError()
    env._enter()
    try:
        for i in range(n):
            reason = _nik_from(niks[i], &keys[i], &pos)
            if reason != NIK_OK:
                st[i] = ITEM_INVALID_NIK
                problems[i] = ("nik", (reason, pos))
        # Normally one segment, one transaction. An LMDB error (a damaged page) leaves the
        # transaction unusable, so the segment ends there: its found records, which point
        # into the map, are decoded while it is still open, and the rest of the batch is
        # read in a new one.
        seg_start = 0
        while seg_start < n:
            seg_end = n
            side = -1
            with nogil:
                rc = mdb_txn_begin(env.env, NULL, MDB_RDONLY, &txn)
                if rc == MDB_SUCCESS:
                    for i in range(seg_start, n):
                        if st[i] != 0:
                            continue
                        _key_of(keys[i], key)
                        k.mv_size = 8
                        k.mv_data = key
                        rc_get = mdb_get(txn, env.records, &k, &v)
                        if rc_get != MDB_SUCCESS:
                            st[i] = _miss_status(env, txn, keys[i], rc_get, &side)
                            if rc_get != MDB_NOTFOUND:
                                seg_end = i + 1
                                break
                        elif not unpack_record(keys[i], <const unsigned char *>v.mv_data,
                                               v.mv_size, &view, True):
                            st[i] = ITEM_CORRUPT
                        else:
                            st[i] = ITEM_FOUND
                            recs[i] = <const unsigned char *>v.mv_data
                            lens[i] = v.mv_size
            _check(rc, "begin read")
            try:
                for i in range(seg_start, seg_end):
                    if st[i] != ITEM_FOUND:
                        continue
                    unpack_record(keys[i], recs[i], lens[i], &view, False)  # checked above
                    bad = False
                    for f in range(nf):
                        (<list>columns[f])[i] = _decode_field(&env.tokd, &view, keys[i],
                                                               fields[f], kinds[f],
                                                               code_names[f], &bad)
                    if bad:   # a token id the dictionary lacks: nothing of it is returned
                        st[i] = ITEM_CORRUPT
                        for f in range(nf):
                            (<list>columns[f])[i] = None
                        continue
                    regions[i] = (view.num[F_NO_PROP], view.num[F_NO_KAB], view.num[F_NO_KEC],
                                  view.num[F_NO_KEL])
            finally:
                mdb_txn_abort(txn)
                txn = NULL
            seg_start = seg_end
    finally:
        env._leave()
        free(keys)
        free(recs)
        free(lens)
    return status, columns, problems, regions
