# The token dictionary of a generation: the words of its texts (names, places, addresses)
# ranked by how often the build saw them, so a stored text is a few token ids
# (docs/index-format.md, "Texts and the token dictionary").
#
# The dictionary is a file of the generation (tokens.bin), written and fsynced by the build
# before the manifest that names it is committed, mmapped read-only by readers, sealed and
# copied with the generation, never changed afterwards: a delta's record with a word the
# build never saw stores that word as a literal. Not a value inside data.mdb: LMDB would
# keep it in overflow pages, raw bytes without page headers, and a damaged page number
# pointing into them would make LMDB read garbage as a B-tree page. Its xxh3-128 is in
# the manifest and checked whenever the index is opened and by `nikgate index verify`:
# record checksums cover token ids, not the words they stand for.
#
# Blob: b"NIKTOK01", u32 count, u32 text bytes, u32 offsets[count + 1], the token bytes.
# Token i is bytes[offsets[i]:offsets[i + 1]].
#
# A text's stored payload is a run of LEB128 varints:
#   v >= 2: token v - 2 of the dictionary;  v == 0: a literal token: u8 length, bytes;
#   v == 1 (first only): the rest of the payload is the text's UTF-8 as it is (a text that
#   is not words joined by single spaces, or is shorter that way).
# Tokens are joined with single spaces, so every text round-trips byte for byte.

DEF TOKEN_MAGIC = b"NIKTOK01"
DEF TOKEN_HEADER = 16
DEF MIN_TOKEN_COUNT = 2    # a word seen once costs less as a literal than as an entry


cdef struct TokDict:
    uint32_t count
    uint32_t nbytes           # of `text`, as checked when attached
    const uint32_t *off
    const unsigned char *text


cdef extern from "xxhash.h" nogil:
    ctypedef struct XXH128_hash_t:
        unsigned long long low64
        unsigned long long high64
    XXH128_hash_t XXH3_128bits(const void *data, size_t len)
    unsigned long long XXH3_64bits(const void *data, size_t len)


cdef inline int put_varint(unsigned char *out, uint32_t v) noexcept nogil:
    cdef int n = 0
    while v >= 0x80:
        out[n] = <unsigned char>(v | 0x80)
        v >>= 7
        n += 1
    out[n] = <unsigned char>v
    return n + 1


cdef inline int _varint_size(uint32_t v) noexcept nogil:
    cdef int n = 1
    while v >= 0x80:
        v >>= 7
        n += 1
    return n


cdef inline int get_varint(const unsigned char *p, const unsigned char *end,
                           uint32_t *v) noexcept nogil:
    """Bytes read (1..5), or 0 when the varint runs past `end` or beyond 32 bits."""
    cdef uint32_t x = 0
    cdef int shift = 0, n = 0
    while p + n < end and n < 5:
        x |= <uint32_t>(p[n] & 0x7F) << shift
        if not (p[n] & 0x80):
            v[0] = x
            return n + 1
        shift += 7
        n += 1
    return 0


cdef int decode_text(const TokDict *d, const unsigned char *p, int n,
                     unsigned char *out) noexcept nogil:
    """A stored payload back to its text, into `out` (MAX_TEXT + 1 bytes); its length, or -1
    when the payload is malformed (a bad id, a length past the end, a text too long)."""
    cdef const unsigned char *end = p + n
    cdef uint32_t v, tlen
    cdef int o = 0, k
    cdef const unsigned char *src
    if n == 0:
        return 0
    if p[0] == 1:   # as it is
        if n - 1 > MAX_TEXT:
            return -1
        memcpy(out, p + 1, n - 1)
        return n - 1
    while p < end:
        k = get_varint(p, end, &v)
        if k == 0:
            return -1
        p += k
        if v == 0:
            if p >= end:
                return -1
            tlen = p[0]
            src = p + 1
            p += 1 + tlen
            if p > end or tlen == 0:
                return -1
        elif v >= 2 and v - 2 < d.count:
            # bounds checked on every read, not only when attached: the dictionary is read
            # in place from the map, and a damaged page must not send a read outside it
            if d.off[v - 2] >= d.off[v - 1] or d.off[v - 1] > d.nbytes:
                return -1
            src = d.text + d.off[v - 2]
            tlen = d.off[v - 1] - d.off[v - 2]
        else:
            return -1
        if o > 0:
            if o >= MAX_TEXT:
                return -1
            out[o] = 32
            o += 1
        if o + <int>tlen > MAX_TEXT:
            return -1
        memcpy(out + o, src, tlen)
        o += tlen
    return o


cdef class TokenDictionary:
    """A token dictionary over a blob (its own bytes, or an index's map), with a hash index
    built on first use for encoding (builds and deltas)."""
    cdef TokDict d
    cdef object owner            # keeps the blob's memory alive (bytes, or the Env)
    cdef const unsigned char *base
    cdef readonly Py_ssize_t nbytes
    cdef uint32_t *slots         # open addressing: token id + 1, 0 = empty
    cdef uint64_t mask

    def __dealloc__(self):
        free(self.slots)

    cdef int _attach(self, object owner, const unsigned char *blob, Py_ssize_t n) except -1:
        cdef uint32_t count, tbytes, i
        cdef const uint32_t *off
        if n < TOKEN_HEADER or memcmp(blob, <const char *>TOKEN_MAGIC, 8) != 0:
            raise StoreError("the token dictionary is not one (bad magic)")
        memcpy(&count, blob + 8, 4)
        memcpy(&tbytes, blob + 12, 4)
        if <size_t>n != TOKEN_HEADER + 4 * (<size_t>count + 1) + tbytes:
            raise StoreError("the token dictionary's size does not match its header")
        off = <const uint32_t *>(blob + TOKEN_HEADER)
        if off[0] != 0 or off[count] != tbytes:
            raise StoreError("the token dictionary's offsets are damaged")
        for i in range(count):
            if off[i + 1] <= off[i] or off[i + 1] - off[i] > MAX_TEXT:
                raise StoreError("the token dictionary's offsets are damaged")
        self.owner = owner
        self.base = blob
        self.nbytes = n
        self.d.count = count
        self.d.nbytes = tbytes
        self.d.off = off
        self.d.text = blob + TOKEN_HEADER + 4 * (<size_t>count + 1)
        return 0

    @staticmethod
    def open(str path):
        """The dictionary file of a generation, mmapped read-only."""
        import mmap
        cdef TokenDictionary t = TokenDictionary.__new__(TokenDictionary)
        cdef const unsigned char[:] view
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            if size < TOKEN_HEADER:
                raise StoreError(f"token dictionary {path} is truncated ({size} bytes)")
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        view = mm
        t._attach(mm, &view[0], size)
        return t

    @staticmethod
    def from_blob(bytes blob):
        cdef TokenDictionary t = TokenDictionary.__new__(TokenDictionary)
        t._attach(blob, <const unsigned char *>blob, len(blob))
        return t

    def __len__(self):
        return self.d.count

    def blob(self):
        return (<const char *>self.base)[:self.nbytes]

    def digest(self):
        """xxh3-128 of the blob as 32 hex digits (as the xxhash module prints it)."""
        cdef XXH128_hash_t h = XXH3_128bits(<const void *>self.base, self.nbytes)
        return f"{h.high64:016x}{h.low64:016x}"

    def tokens(self):
        cdef uint32_t i
        return [(<const char *>self.d.text)[self.d.off[i]:self.d.off[i + 1]]
                for i in range(self.d.count)]

    cdef int _index(self) except -1:
        """The hash index for encoding, built once."""
        cdef uint64_t size = 16, h, j
        cdef uint32_t i
        if self.slots != NULL:
            return 0
        while size < 2 * (<uint64_t>self.d.count + 1):
            size <<= 1
        self.slots = <uint32_t *>calloc(size, sizeof(uint32_t))
        if self.slots == NULL:
            raise MemoryError()
        self.mask = size - 1
        for i in range(self.d.count):
            h = XXH3_64bits(self.d.text + self.d.off[i], self.d.off[i + 1] - self.d.off[i])
            j = h & self.mask
            while self.slots[j] != 0:
                j = (j + 1) & self.mask
            self.slots[j] = i + 1
        return 0

    cdef inline int64_t find(self, const unsigned char *s, int n) noexcept nogil:
        """The id of a token, or -1 (the index must have been built)."""
        cdef uint64_t j = XXH3_64bits(s, n) & self.mask
        cdef uint32_t e
        while True:
            e = self.slots[j]
            if e == 0:
                return -1
            e -= 1
            if self.d.off[e + 1] <= self.d.nbytes and self.d.off[e] < self.d.off[e + 1] and \
                    self.d.off[e + 1] - self.d.off[e] == <uint32_t>n and \
                    memcmp(self.d.text + self.d.off[e], s, n) == 0:
                return e
            j = (j + 1) & self.mask

    cdef int encode_text(self, const unsigned char *s, int n, unsigned char *out) noexcept nogil:
        """The stored payload of a text (<= MAX_TEXT + 1 bytes); its length."""
        cdef int i = 0, start, o = 0, tl
        cdef int64_t id_
        cdef bint plain = n > 0 and s[0] != 32 and s[n - 1] != 32
        if n == 0:
            return 0
        if plain:
            while i <= n:
                start = i
                while i < n and s[i] != 32:
                    i += 1
                tl = i - start
                if tl == 0:   # a double space
                    plain = False
                    break
                id_ = self.find(s + start, tl)
                # never longer than the text as it is (n + 1): that bounds `out` too
                if o + (_varint_size(<uint32_t>(id_ + 2)) if id_ >= 0 else 2 + tl) > n + 1:
                    plain = False
                    break
                if id_ >= 0:
                    o += put_varint(out + o, <uint32_t>(id_ + 2))
                else:
                    out[o] = 0
                    out[o + 1] = <unsigned char>tl
                    memcpy(out + o + 2, s + start, tl)
                    o += 2 + tl
                i += 1
        if not plain:
            out[0] = 1
            memcpy(out + 1, s, n)
            return n + 1
        return o

    def py_encode_text(self, bytes text):
        cdef unsigned char out[MAX_TEXT + 8]
        if len(text) > MAX_TEXT:
            raise ValueError("text too long")
        self._index()
        return (<char *>out)[:self.encode_text(<const unsigned char *>text, len(text), out)]

    def py_decode_text(self, bytes payload):
        cdef unsigned char out[MAX_TEXT + 8]
        cdef int n = decode_text(&self.d, <const unsigned char *>payload, len(payload), out)
        if n < 0:
            raise ValueError("malformed text payload")
        return (<char *>out)[:n]


# -- counting the build's tokens ------------------------------------------------------------

cdef struct TokCount:
    uint64_t hash
    uint64_t count
    uint32_t off      # into the counter's pool
    uint32_t len


cdef const unsigned char *_sort_pool = NULL

cdef int _cmp_count(const void *a, const void *b) noexcept nogil:
    cdef const TokCount *x = <const TokCount *>a
    cdef const TokCount *y = <const TokCount *>b
    cdef int c
    cdef uint32_t m
    if x.count != y.count:
        return -1 if x.count > y.count else 1
    m = x.len if x.len < y.len else y.len
    c = memcmp(_sort_pool + x.off, _sort_pool + y.off, m)
    if c != 0:
        return c
    return (x.len > y.len) - (x.len < y.len)


cdef class TokenCounter:
    """Counts the words of packed rows' texts (the build's arena feeds it every row)."""
    cdef TokCount *table
    cdef uint64_t size, used
    cdef unsigned char *pool
    cdef size_t pool_used, pool_cap

    def __cinit__(self):
        self.size = 1 << 12
        self.table = <TokCount *>calloc(self.size, sizeof(TokCount))
        if self.table == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.table)
        free(self.pool)

    def __len__(self):
        return self.used

    cdef int _grow(self) except -1:
        cdef uint64_t old = self.size, i, j
        cdef TokCount *t = self.table
        cdef TokCount *grown = <TokCount *>calloc(old * 2, sizeof(TokCount))
        if grown == NULL:
            raise MemoryError()
        self.size = old * 2
        for i in range(old):
            if t[i].len != 0:
                j = t[i].hash & (self.size - 1)
                while grown[j].len != 0:
                    j = (j + 1) & (self.size - 1)
                grown[j] = t[i]
        free(t)
        self.table = grown
        return 0

    cdef int add_token(self, const unsigned char *s, int n) except -1:
        cdef uint64_t h = XXH3_64bits(s, n), j
        cdef TokCount *e
        cdef void *p
        cdef size_t cap
        j = h & (self.size - 1)
        while True:
            e = &self.table[j]
            if e.len == 0:
                break
            if e.hash == h and e.len == <uint32_t>n and memcmp(self.pool + e.off, s, n) == 0:
                e.count += 1
                return 0
            j = (j + 1) & (self.size - 1)
        if self.pool_used + n > self.pool_cap:
            cap = max(self.pool_cap * 2, self.pool_used + n, <size_t>(1 << 16))
            p = realloc(self.pool, cap)
            if p == NULL:
                raise MemoryError()
            self.pool = <unsigned char *>p
            self.pool_cap = cap
        memcpy(self.pool + self.pool_used, s, n)
        e.hash = h
        e.count = 1
        e.off = <uint32_t>self.pool_used
        e.len = n
        self.pool_used += n
        self.used += 1
        if self.used * 2 > self.size:
            self._grow()
        return 0

    cdef int add_packed(self, const unsigned char *v, size_t n) except -1:
        """Count the words of a packed row's texts (splitting on single spaces)."""
        cdef size_t pos = HEADER, end
        cdef size_t i, start
        cdef int t
        for t in range(N_TEXTS):
            if pos >= n:
                return 0
            end = pos + 1 + v[pos]
            if end > n:
                return 0
            i = pos + 1
            while i < end:
                start = i
                while i < end and v[i] != 32:
                    i += 1
                if i > start:
                    self.add_token(v + start, <int>(i - start))
                i += 1
            pos = end
        return 0

    def add(self, bytes packed):
        self.add_packed(<const unsigned char *>packed, len(packed))

    def dictionary(self, uint64_t min_count=MIN_TOKEN_COUNT):
        """The dictionary of every word seen at least `min_count` times, most frequent
        first (ties in byte order: the same rows give the same dictionary)."""
        global _sort_pool
        cdef TokCount *kept = <TokCount *>malloc(max(self.used, 1) * sizeof(TokCount))
        cdef uint64_t i, k = 0, tbytes = 0
        cdef bytes blob
        cdef unsigned char *b
        cdef uint32_t u
        if kept == NULL:
            raise MemoryError()
        try:
            for i in range(self.size):
                if self.table[i].len != 0 and self.table[i].count >= min_count:
                    kept[k] = self.table[i]
                    tbytes += kept[k].len
                    k += 1
            _sort_pool = self.pool
            qsort(kept, k, sizeof(TokCount), _cmp_count)
            _sort_pool = NULL
            if tbytes >= (<uint64_t>1 << 32) or k >= (<uint64_t>1 << 31):
                raise ValueError("too many distinct words for one token dictionary")
            blob = PyBytes_FromStringAndSize(NULL, TOKEN_HEADER + 4 * (k + 1) + tbytes)
            b = <unsigned char *>PyBytes_AS_STRING(blob)
            memcpy(b, <const char *>TOKEN_MAGIC, 8)
            u = <uint32_t>k
            memcpy(b + 8, &u, 4)
            u = <uint32_t>tbytes
            memcpy(b + 12, &u, 4)
            u = 0
            for i in range(k):
                memcpy(b + TOKEN_HEADER + 4 * i, &u, 4)
                memcpy(b + TOKEN_HEADER + 4 * (k + 1) + u, self.pool + kept[i].off, kept[i].len)
                u += kept[i].len
            memcpy(b + TOKEN_HEADER + 4 * k, &u, 4)
        finally:
            free(kept)
        return TokenDictionary.from_blob(blob)
