# LMDB environment and transactions over liblmdb directly, so batch reads run without the
# GIL. Keys are NIKs as native 8-byte integers in an MDB_INTEGERKEY database: LMDB orders
# them numerically (numeric order = region order) and compares them as integers, which
# is cheaper than memcmp on the tree search every read pays. The "meta" database holds
# the manifest; "delta_keys" holds the NIKs whose membership deltas changed since the build
# (1 = stored, 0 = removed), beside the generation's key file (keyfile.pxi).

cdef inline void _key_of(uint64_t nik, unsigned char *out) noexcept nogil:
    memcpy(out, &nik, 8)


cdef inline uint64_t _nik_of_key(const unsigned char *k) noexcept nogil:
    cdef uint64_t v
    memcpy(&v, k, 8)
    return v


cdef int _check(int rc, str what) except -1:
    if rc != MDB_SUCCESS:
        raise StoreError(f"{what}: {mdb_strerror(rc).decode('utf-8', 'replace')} (lmdb {rc})")
    return 0


class StoreError(Exception):
    """liblmdb reported an error; the facade wraps this into the nikgate hierarchy."""


class StoreFormatError(StoreError):
    """The databases were created with other flags: an index of another format version."""


cdef class Env:
    """One open LMDB environment (a directory holding data.mdb and lock.mdb)."""
    cdef MDB_env *env
    cdef MDB_dbi records
    cdef MDB_dbi meta
    cdef MDB_dbi delta_keys
    cdef readonly bint has_delta_keys
    # the generation's key file (attach_keys); NULL/0 when the index has none
    cdef KeyFile keyfile
    cdef const uint64_t *key_array
    cdef Py_ssize_t key_count
    cdef const uint64_t *key_top
    cdef Py_ssize_t key_ntop
    # the generation's token dictionary (attach_dictionary); texts decode only with it
    cdef TokenDictionary dictionary
    cdef TokDict tokd
    cdef readonly bint readonly
    cdef readonly str path
    cdef object writer   # the open WriteTxn, aborted before the environment closes
    cdef int readers     # batch reads in progress (they run without the GIL)
    cdef bint close_pending

    def __cinit__(self, str path, bint readonly=True, size_t map_size=0, bint durable=True):
        cdef MDB_txn *txn
        cdef unsigned int flags = MDB_NOTLS
        cdef unsigned int dbflags = 0
        cdef bytes bpath = path.encode()
        self.path = path
        self.readonly = readonly
        _check(mdb_env_create(&self.env), "create environment")
        mdb_env_set_maxdbs(self.env, 4)
        mdb_env_set_maxreaders(self.env, 1024)
        if map_size:
            mdb_env_set_mapsize(self.env, map_size)
        if readonly:
            flags |= MDB_RDONLY
        elif not durable:
            # bulk builds sync once at the end (Env.sync) before the index is published
            flags |= MDB_NOSYNC
        rc = mdb_env_open(self.env, bpath, flags, 0o644)
        if rc != MDB_SUCCESS:
            mdb_env_close(self.env)
            self.env = NULL
            _check(rc, f"open index at {path}")
        _check(mdb_txn_begin(self.env, NULL, MDB_RDONLY if readonly else 0, &txn), "begin")
        rc = mdb_dbi_open(txn, b"records",
                          MDB_INTEGERKEY | (0 if readonly else MDB_CREATE), &self.records)
        if rc == MDB_SUCCESS:
            # An existing database keeps the flags it was created with, whatever we ask:
            # one without integer keys is an index of format 1 and would read as empty.
            rc = mdb_dbi_flags(txn, self.records, &dbflags)
            if rc == MDB_SUCCESS and not (dbflags & MDB_INTEGERKEY):
                rc = MDB_INCOMPATIBLE
        if rc == MDB_SUCCESS:
            rc = mdb_dbi_open(txn, b"meta", 0 if readonly else MDB_CREATE, &self.meta)
        if rc == MDB_SUCCESS:
            rc = mdb_dbi_open(txn, b"delta_keys", MDB_INTEGERKEY | (0 if readonly else MDB_CREATE),
                              &self.delta_keys)
            self.has_delta_keys = rc == MDB_SUCCESS
            if rc == MDB_NOTFOUND:  # an index built before delta_keys existed
                rc = MDB_SUCCESS
        if rc != MDB_SUCCESS:
            mdb_txn_abort(txn)
            self.close()
            if rc == MDB_INCOMPATIBLE:
                raise StoreFormatError(f"{path} holds databases of another index format")
            _check(rc, f"open databases of {path}")
        # committing (even a read-only txn) keeps the database handles open for the env
        _check(mdb_txn_commit(txn), "commit database handles")

    def __dealloc__(self):
        if self.env != NULL:
            mdb_env_close(self.env)

    def close(self):
        """Close now, or, while batch reads are running, as soon as the last one ends."""
        if self.writer is not None:
            self.writer.abort()
        if self.readers > 0:
            self.close_pending = True
            return
        if self.env != NULL:
            mdb_env_close(self.env)
            self.env = NULL

    cdef int _enter(self) except -1:
        self._alive()
        self.readers += 1
        return 0

    cdef void _leave(self) noexcept:
        self.readers -= 1
        if self.readers == 0 and self.close_pending and self.env != NULL:
            mdb_env_close(self.env)
            self.env = NULL

    cdef int _alive(self) except -1:
        if self.env == NULL or self.close_pending:
            raise StoreError(f"index at {self.path} is closed")
        return 0

    def attach_keys(self, KeyFile keys):
        """Consult `keys` (this generation's key file) when a lookup misses."""
        self.keyfile = keys
        self.key_array = keys.keys
        self.key_count = keys.count
        self.key_top = keys.top
        self.key_ntop = keys.ntop

    @property
    def keys(self):
        return self.keyfile

    def attach_dictionary(self, TokenDictionary dictionary not None):
        """Decode (and, writing, encode) texts with `dictionary`."""
        self.dictionary = dictionary
        self.tokd = dictionary.d

    @property
    def token_dictionary(self):
        return self.dictionary

    cdef TokenDictionary _encoder(self):
        if self.dictionary is None:
            raise StoreError("no token dictionary is attached to the index")
        self.dictionary._index()
        return self.dictionary

    cdef int _reading(self) except -1:
        if self.dictionary is None:
            raise StoreError(f"index at {self.path} has no token dictionary attached")
        return 0

    def sync(self):
        self._alive()
        _check(mdb_env_sync(self.env, 1), "sync")

    def stat(self):
        """Entry count and page figures of the records database."""
        cdef MDB_txn *txn
        cdef MDB_stat st
        cdef MDB_envinfo info
        self._alive()
        _check(mdb_txn_begin(self.env, NULL, MDB_RDONLY, &txn), "begin")
        rc = mdb_stat(txn, self.records, &st)
        mdb_txn_abort(txn)
        _check(rc, "stat")
        mdb_env_info(self.env, &info)
        return {
            "entries": st.ms_entries, "page_size": st.ms_psize, "depth": st.ms_depth,
            "branch_pages": st.ms_branch_pages, "leaf_pages": st.ms_leaf_pages,
            "overflow_pages": st.ms_overflow_pages, "last_page": info.me_last_pgno,
            "map_size": info.me_mapsize,
        }

    def get_meta(self, bytes key):
        cdef MDB_txn *txn
        cdef MDB_val k, v
        self._alive()
        k.mv_size = len(key)
        k.mv_data = <char *>key
        _check(mdb_txn_begin(self.env, NULL, MDB_RDONLY, &txn), "begin")
        rc = mdb_get(txn, self.meta, &k, &v)
        try:
            if rc == MDB_NOTFOUND:
                return None
            _check(rc, "read manifest")
            return (<char *>v.mv_data)[:v.mv_size]
        finally:
            mdb_txn_abort(txn)

    def get_packed(self, uint64_t nik):
        """A record as the packed row it was stored from (decoded with the attached
        dictionary), None when absent, False when it does not check or decode."""
        raw = self.get_raw(nik)
        if raw is None:
            return None
        self._reading()
        out = expand_record(&self.tokd, nik, <const unsigned char *>raw, len(raw))
        return False if out is None else out

    def get_raw(self, uint64_t nik):
        """A record's stored bytes without checking them (tools and tests), or None."""
        cdef MDB_txn *txn
        cdef MDB_val k, v
        cdef unsigned char key[8]
        self._alive()
        _key_of(nik, key)
        k.mv_size = 8
        k.mv_data = key
        _check(mdb_txn_begin(self.env, NULL, MDB_RDONLY, &txn), "begin")
        rc = mdb_get(txn, self.records, &k, &v)
        try:
            if rc == MDB_NOTFOUND:
                return None
            _check(rc, "read record")
            return (<char *>v.mv_data)[:v.mv_size]
        finally:
            mdb_txn_abort(txn)

    def iter_keys(self, uint64_t start=0, Py_ssize_t limit=-1):
        """NIKs in key order from `start`, at most `limit` (all when negative)."""
        cdef MDB_txn *txn
        cdef MDB_cursor *cur
        cdef MDB_val k, v
        cdef unsigned char key[8]
        cdef list out = []
        self._alive()
        _key_of(start, key)
        k.mv_size = 8
        k.mv_data = key
        _check(mdb_txn_begin(self.env, NULL, MDB_RDONLY, &txn), "begin")
        try:
            _check(mdb_cursor_open(txn, self.records, &cur), "cursor")
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)
            while rc == MDB_SUCCESS and (limit < 0 or len(out) < limit):
                out.append(_nik_of_key(<const unsigned char *>k.mv_data))
                rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)
            mdb_cursor_close(cur)
            if rc != MDB_NOTFOUND and rc != MDB_SUCCESS:
                _check(rc, "iterate")
            return out
        finally:
            mdb_txn_abort(txn)

    def begin_write(self):
        self._alive()
        if self.readonly:
            raise StoreError(f"index at {self.path} is open read-only")
        if self.writer is not None:
            raise StoreError("a write transaction is already open")
        self.writer = WriteTxn(self)
        return self.writer


cdef class WriteTxn:
    """The one write transaction; nothing is visible to readers until commit()."""
    cdef MDB_txn *txn
    cdef Env env

    def __cinit__(self, Env env):
        self.env = env
        _check(mdb_txn_begin(env.env, NULL, 0, &self.txn), "begin write")

    def __dealloc__(self):
        if self.txn != NULL:
            mdb_txn_abort(self.txn)

    cdef int _alive(self) except -1:
        if self.txn == NULL:
            raise StoreError("transaction already finished")
        return 0

    def get(self, uint64_t nik):
        cdef MDB_val k, v
        cdef unsigned char key[8]
        self._alive()
        _key_of(nik, key)
        k.mv_size = 8
        k.mv_data = key
        rc = mdb_get(self.txn, self.env.records, &k, &v)
        if rc == MDB_NOTFOUND:
            return None
        _check(rc, "read record")
        return (<char *>v.mv_data)[:v.mv_size]

    def put(self, uint64_t nik, bytes value, bint overwrite=True):
        """Store a record given as a packed row (the encoders' bytes), in its stored form
        with the attached dictionary; with overwrite=False, returns False if the NIK
        exists."""
        cdef MDB_val k, v
        cdef unsigned char key[8]
        cdef unsigned char out[STORE_MAX]
        cdef TokenDictionary d
        cdef int n
        self._alive()
        d = self.env._encoder()
        n = store_record(nik, <const unsigned char *>value, len(value), d, out)
        if n < 0:
            raise StoreError(f"record {nik:016d} is not a sound packed row")
        _key_of(nik, key)
        k.mv_size = 8
        k.mv_data = key
        v.mv_size = n
        v.mv_data = out
        rc = mdb_put(self.txn, self.env.records, &k, &v, 0 if overwrite else MDB_NOOVERWRITE)
        if rc == MDB_KEYEXIST:
            return False
        _check(rc, "write record")
        return True

    def append_sorted(self, list niks, list values):
        """Append records (packed rows, stored in their stored form with the attached
        dictionary) whose NIKs ascend and
        exceed every stored NIK (bulk build)."""
        cdef MDB_cursor *cur
        cdef MDB_val k, v
        cdef unsigned char key[8]
        cdef unsigned char out[STORE_MAX]
        cdef Py_ssize_t i
        cdef bytes value
        cdef int n
        cdef TokenDictionary d
        self._alive()
        d = self.env._encoder()
        _check(mdb_cursor_open(self.txn, self.env.records, &cur), "cursor")
        try:
            for i in range(len(niks)):
                _key_of(<uint64_t>niks[i], key)
                value = <bytes>values[i]
                n = store_record(<uint64_t>niks[i], <const unsigned char *>value, len(value),
                                 d, out)
                if n < 0:
                    raise StoreError(f"record {niks[i]:016d} is not a sound packed row")
                k.mv_size = 8
                k.mv_data = key
                v.mv_size = n
                v.mv_data = out
                rc = mdb_cursor_put(cur, &k, &v, MDB_APPEND)
                if rc != MDB_SUCCESS:
                    _check(rc, f"append record {i}")
        finally:
            mdb_cursor_close(cur)

    def delete(self, uint64_t nik):
        cdef MDB_val k
        cdef unsigned char key[8]
        self._alive()
        _key_of(nik, key)
        k.mv_size = 8
        k.mv_data = key
        rc = mdb_del(self.txn, self.env.records, &k, NULL)
        if rc == MDB_NOTFOUND:
            return False
        _check(rc, "delete record")
        return True

    def set_membership(self, uint64_t nik, bint stored, bint in_key_file):
        """Record in delta_keys that `nik` is now stored or not; an entry is kept only
        where the answer differs from the generation's key file."""
        cdef MDB_val k, v
        cdef unsigned char key[8]
        cdef unsigned char flag = 1 if stored else 0
        self._alive()
        if not self.env.has_delta_keys:
            raise StoreError("this index has no delta_keys database; rebuild it with "
                             "`nikgate index build`")
        _key_of(nik, key)
        k.mv_size = 8
        k.mv_data = key
        if stored == in_key_file:
            rc = mdb_del(self.txn, self.env.delta_keys, &k, NULL)
            if rc != MDB_NOTFOUND:
                _check(rc, "delete delta key")
            return
        v.mv_size = 1
        v.mv_data = &flag
        _check(mdb_put(self.txn, self.env.delta_keys, &k, &v, 0), "write delta key")

    def put_meta(self, bytes key, bytes value):
        cdef MDB_val k, v
        self._alive()
        k.mv_size = len(key)
        k.mv_data = <char *>key
        v.mv_size = len(value)
        v.mv_data = <char *>value
        _check(mdb_put(self.txn, self.env.meta, &k, &v, 0), "write manifest")

    def commit(self):
        self._alive()
        rc = mdb_txn_commit(self.txn)
        self.txn = NULL
        self.env.writer = None
        _check(rc, "commit")

    def abort(self):
        if self.txn != NULL:
            mdb_txn_abort(self.txn)
            self.txn = NULL
            self.env.writer = None
