# Records of a build held in one C arena, sorted by (NIK, line) in C and appended to LMDB
# in C: no Python object per record between parsing and storing. An arena larger than the
# build's memory budget is sorted and spilled to a run file instead (build.py merges runs).

cdef struct RecRef:
    uint64_t nik
    uint32_t line
    uint32_t length
    size_t offset


cdef int _cmp_recref(const void *a, const void *b) noexcept nogil:
    cdef const RecRef *x = <const RecRef *>a
    cdef const RecRef *y = <const RecRef *>b
    if x.nik != y.nik:
        return -1 if x.nik < y.nik else 1
    return (x.line > y.line) - (x.line < y.line)


cdef class RecordArena:
    cdef unsigned char *data
    cdef size_t used, capacity
    cdef RecRef *refs
    cdef size_t count, ref_capacity
    # the words of every row added, spilled or not: the generation's token dictionary
    cdef readonly TokenCounter words

    def __cinit__(self):
        self.words = TokenCounter()

    def __dealloc__(self):
        free(self.data)
        free(self.refs)

    def __len__(self):
        return self.count

    @property
    def nbytes(self):
        return self.used + self.count * sizeof(RecRef)

    cdef int add(self, uint64_t nik, uint32_t line, bytes value) except -1:
        cdef size_t n = len(value), cap
        cdef void *grown
        if self.used + n > self.capacity:
            cap = max(self.capacity * 2, self.used + n, 1 << 20)
            grown = realloc(self.data, cap)
            if grown == NULL:
                raise MemoryError()
            self.data = <unsigned char *>grown
            self.capacity = cap
        if self.count == self.ref_capacity:
            cap = max(self.ref_capacity * 2, 1 << 16)
            grown = realloc(self.refs, cap * sizeof(RecRef))
            if grown == NULL:
                raise MemoryError()
            self.refs = <RecRef *>grown
            self.ref_capacity = cap
        self.words.add_packed(<const unsigned char *>value, n)
        memcpy(self.data + self.used, <const char *>value, n)
        self.refs[self.count].nik = nik
        self.refs[self.count].line = line
        self.refs[self.count].length = <uint32_t>n
        self.refs[self.count].offset = self.used
        self.used += n
        self.count += 1
        return 0

    def append(self, uint64_t nik, uint32_t line, bytes value):
        self.add(nik, line, value)

    def sort(self):
        with nogil:
            qsort(self.refs, self.count, sizeof(RecRef), _cmp_recref)

    def clear(self):
        """Forget the records (spilled); the word counts stay."""
        self.used = 0
        self.count = 0

    def dictionary(self):
        """The token dictionary of every row added so far (TokenCounter.dictionary)."""
        return self.words.dictionary()

    def spill(self, str path):
        """Write the (sorted) records as a run file: <u64 NIK, u32 line, u16 length, bytes>."""
        cdef FILE *f = fopen(path.encode(), "wb")
        cdef size_t i
        cdef uint16_t n16
        cdef RecRef *r
        if f == NULL:
            raise OSError(f"cannot write run file {path}")
        try:
            for i in range(self.count):
                r = &self.refs[i]
                n16 = <uint16_t>r.length
                if (fwrite(&r.nik, 8, 1, f) != 1 or fwrite(&r.line, 4, 1, f) != 1
                        or fwrite(&n16, 2, 1, f) != 1
                        or fwrite(self.data + r.offset, 1, r.length, f) != r.length):
                    raise OSError(f"cannot write run file {path} (disk full?)")
        finally:
            fclose(f)

    def append_to(self, WriteTxn txn, duplicate, KeyWriter keys=None):
        """Append the sorted records to an empty database in key order, in their stored
        form with the dictionary attached to the environment (Env.attach_dictionary);
        the first line of a NIK wins and each later one is reported as
        duplicate(line, first_line). Each stored NIK also goes to `keys` (the
        generation's key file) when given. Returns how many records were stored."""
        cdef MDB_cursor *cur
        cdef MDB_val k, v
        cdef unsigned char key[8]
        cdef unsigned char out[STORE_MAX]
        cdef int n = 0
        cdef TokenDictionary d = txn.env._encoder()
        cdef size_t i, stored = 0
        cdef RecRef *r
        cdef uint64_t prev = 0
        cdef uint32_t prev_line = 0
        cdef bint first = True
        cdef int rc = MDB_SUCCESS
        cdef bint with_keys = keys is not None
        txn._alive()
        _check(mdb_cursor_open(txn.txn, txn.env.records, &cur), "cursor")
        try:
            i = 0
            while i < self.count:
                with nogil:
                    # run without the GIL until a duplicate needs reporting
                    while i < self.count:
                        r = &self.refs[i]
                        if not first and r.nik == prev:
                            break
                        first = False
                        prev = r.nik
                        prev_line = r.line
                        n = store_record(r.nik, self.data + r.offset, r.length, d, out)
                        if n < 0:
                            break
                        _key_of(r.nik, key)
                        k.mv_size = 8
                        k.mv_data = key
                        v.mv_size = n
                        v.mv_data = out
                        rc = mdb_cursor_put(cur, &k, &v, MDB_APPEND)
                        if rc != MDB_SUCCESS:
                            break
                        if with_keys:
                            keys.add(r.nik)
                        stored += 1
                        i += 1
                if n < 0:   # the arena's bytes changed in memory: fail the build
                    raise StoreError(f"record {self.refs[i].nik:016d} in the build's arena is "
                                     "not a sound packed row")
                if rc != MDB_SUCCESS:
                    _check(rc, f"append record {i}")
                if i < self.count:
                    duplicate(self.refs[i].line, prev_line)
                    i += 1
        finally:
            mdb_cursor_close(cur)
        return stored
