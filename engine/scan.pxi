# Integrity reads: the record walk behind `nikgate index verify` and the server scrub, the
# delta side table, the probe that counts stored NIKs the B-tree cannot reach, and the
# membership answer a lookup miss consults. Orchestrated by engine/integrity.py.

DEF MAX_LISTED = 10   # NIKs named per kind of problem; the counts cover the rest


cdef int key_stored(Env env, MDB_txn *txn, uint64_t nik, int *side) noexcept nogil:
    """Whether the index holds `nik` by its key file and delta side table (not by the
    B-tree): 1 stored, 0 not stored (or no key file to ask), -1 cannot tell.

    `side` caches, per transaction, whether the side table has entries (-1 = not asked
    yet): a lookup in an empty one cost ~300 ns, the key file search ~170 ns."""
    cdef MDB_val k, v
    cdef MDB_stat st
    cdef unsigned char key[8]
    cdef int rc
    if env.has_delta_keys and side[0] < 0:
        rc = mdb_stat(txn, env.delta_keys, &st)
        if rc != MDB_SUCCESS:
            return -1
        side[0] = 1 if st.ms_entries > 0 else 0
    if env.has_delta_keys and side[0] > 0:
        _key_of(nik, key)
        k.mv_size = 8
        k.mv_data = key
        rc = mdb_get(txn, env.delta_keys, &k, &v)
        if rc == MDB_SUCCESS:
            if v.mv_size != 1:
                return -1
            return 1 if (<const unsigned char *>v.mv_data)[0] == 1 else 0
        if rc != MDB_NOTFOUND:
            return -1
    if env.key_array == NULL:
        return 0
    return 1 if keys_contain(env.key_array, env.key_count, env.key_top, env.key_ntop,
                             nik) else 0


def py_key_stored(Env env, uint64_t nik):
    """key_stored in its own read transaction (tests and tools): 1, 0 or -1."""
    cdef MDB_txn *txn
    cdef int side = -1
    env._alive()
    _check(mdb_txn_begin(env.env, NULL, MDB_RDONLY, &txn), "begin")
    try:
        return key_stored(env, txn, nik, &side)
    finally:
        mdb_txn_abort(txn)


cdef str _lmdb_text(int rc):
    return f"{mdb_strerror(rc).decode('utf-8', 'replace')} (lmdb {rc})"


cdef MDB_txn *_txn_of(Env env, WriteTxn wtxn, bint *own) except? NULL:
    """The write transaction when given (verify before commit), else a new read one."""
    cdef MDB_txn *txn
    if wtxn is not None:
        wtxn._alive()
        own[0] = False
        return wtxn.txn
    _check(mdb_txn_begin(env.env, NULL, MDB_RDONLY, &txn), "begin read")
    own[0] = True
    return txn


def walk_records(Env env, uint64_t start, Py_ssize_t limit, WriteTxn wtxn=None):
    """Walk up to `limit` records in key order from `start` with a cursor, in one
    transaction, checking key order and every record's checksum.

    Returns a dict: count, digest (key-set digest of the keys walked), bad (records that
    failed their check, first few NIKs in bad_niks), out_of_order, error (LMDB's message
    when the walk stopped on an error, else None), next (the key to continue from, None
    at the end), entries (LMDB's own count) and manifest (bytes, same transaction)."""
    cdef MDB_txn *txn
    cdef MDB_cursor *cur = NULL
    cdef MDB_val k, v, mk, mv
    cdef MDB_stat st
    cdef unsigned char key[8]
    cdef bint own = False
    cdef int rc = MDB_SUCCESS, op = MDB_SET_RANGE
    cdef uint64_t count = 0, bad = 0, disorder = 0, nik, prev = 0
    cdef bint have_prev = start > 0
    cdef uint64_t bad_niks[MAX_LISTED]
    cdef int nbad = 0
    cdef Digest128 d
    cdef object manifest = None
    d.lo = 0
    d.hi = 0
    env._reading()
    if have_prev:
        prev = start - 1
    env._enter()
    try:
        txn = _txn_of(env, wtxn, &own)
        try:
            mk.mv_size = 8
            mk.mv_data = b"manifest"
            if mdb_get(txn, env.meta, &mk, &mv) == MDB_SUCCESS:
                manifest = (<char *>mv.mv_data)[:mv.mv_size]
            # a write transaction an LMDB error already spoiled fails here: report it
            st.ms_entries = 0
            rc = mdb_stat(txn, env.records, &st)
            if rc == MDB_SUCCESS:
                rc = mdb_cursor_open(txn, env.records, &cur)
            _key_of(start, key)
            k.mv_size = 8
            k.mv_data = key
            with nogil:
                while rc == MDB_SUCCESS and <Py_ssize_t>count < limit:
                    rc = mdb_cursor_get(cur, &k, &v, <MDB_cursor_op>op)
                    op = MDB_NEXT
                    if rc != MDB_SUCCESS:
                        break
                    if k.mv_size != 8:
                        bad += 1
                        continue
                    nik = _nik_of_key(<const unsigned char *>k.mv_data)
                    if have_prev and nik <= prev:
                        disorder += 1
                    have_prev = True
                    prev = nik
                    count += 1
                    digest_add(&d, nik)
                    if not record_sound(&env.tokd, nik, <const unsigned char *>v.mv_data,
                                        v.mv_size):
                        if nbad < MAX_LISTED:
                            bad_niks[nbad] = nik
                            nbad += 1
                        bad += 1
        finally:
            if cur != NULL:
                mdb_cursor_close(cur)
            if own:
                mdb_txn_abort(txn)
    finally:
        env._leave()
    return {
        "count": count, "digest": digest_int(d), "bad": bad,
        "bad_niks": [bad_niks[i] for i in range(nbad)], "out_of_order": disorder,
        "error": None if rc in (MDB_SUCCESS, MDB_NOTFOUND) else _lmdb_text(rc),
        "next": prev + 1 if rc == MDB_SUCCESS and count > 0 else None,
        "entries": st.ms_entries, "manifest": manifest,
    }


def walk_delta_keys(Env env, WriteTxn wtxn=None):
    """The delta side table: (stored NIKs, removed NIKs, error or None), each sorted."""
    cdef MDB_txn *txn
    cdef MDB_cursor *cur = NULL
    cdef MDB_val k, v
    cdef bint own = False
    cdef int rc
    cdef list stored = [], removed = []
    if not env.has_delta_keys:
        return stored, removed, None
    env._enter()
    try:
        txn = _txn_of(env, wtxn, &own)
        try:
            _check(mdb_cursor_open(txn, env.delta_keys, &cur), "cursor")
            rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)
            while rc == MDB_SUCCESS:
                if k.mv_size != 8 or v.mv_size != 1:
                    rc = -1
                    break
                nik = _nik_of_key(<const unsigned char *>k.mv_data)
                (stored if (<const unsigned char *>v.mv_data)[0] == 1 else removed).append(nik)
                rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)
        finally:
            if cur != NULL:
                mdb_cursor_close(cur)
            if own:
                mdb_txn_abort(txn)
    finally:
        env._leave()
    if rc == -1:
        return stored, removed, "an entry of the delta_keys table is malformed"
    return stored, removed, None if rc == MDB_NOTFOUND else _lmdb_text(rc)


def probe_keys(Env env, list niks, WriteTxn wtxn=None):
    """Look up each of `niks` (NIKs the index should hold) in the B-tree, the way a call
    would. Returns (unreachable count, first few unreachable NIKs, first LMDB error or
    None). An LMDB error leaves a transaction unusable, so reading goes on in a new one."""
    cdef Py_ssize_t n = len(niks), i
    cdef uint64_t *keys = <uint64_t *>malloc(max(n, 1) * sizeof(uint64_t))
    cdef MDB_txn *txn = NULL
    cdef MDB_val k, v
    cdef unsigned char key[8]
    cdef bint own = False
    cdef int rc, first_error = 0, begin_rc = MDB_SUCCESS
    cdef uint64_t missing = 0
    cdef uint64_t listed[MAX_LISTED]
    cdef int nlisted = 0
    if keys == NULL:
        raise MemoryError()
    for i in range(n):
        keys[i] = <uint64_t>niks[i]
    env._enter()
    try:
        txn = _txn_of(env, wtxn, &own)
        with nogil:
            for i in range(n):
                if txn == NULL:
                    # no transaction could be begun again: what is left is unverified
                    missing += n - i
                    break
                _key_of(keys[i], key)
                k.mv_size = 8
                k.mv_data = key
                rc = mdb_get(txn, env.records, &k, &v)
                if rc == MDB_SUCCESS:
                    continue
                missing += 1
                if nlisted < MAX_LISTED:
                    listed[nlisted] = keys[i]
                    nlisted += 1
                if rc != MDB_NOTFOUND:
                    if first_error == 0:
                        first_error = rc
                    if own:
                        mdb_txn_abort(txn)
                        txn = NULL
                        begin_rc = mdb_txn_begin(env.env, NULL, MDB_RDONLY, &txn)
                        if begin_rc != MDB_SUCCESS:
                            txn = NULL
        if own and txn != NULL:
            mdb_txn_abort(txn)
    finally:
        env._leave()
        free(keys)
    return (missing, [listed[i] for i in range(nlisted)],
            None if first_error == 0 else _lmdb_text(first_error))
