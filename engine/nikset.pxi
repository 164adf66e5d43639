# A set of NIKs as u64 in one open-addressing table: which NIKs a worker has already seen
# for an institution. A Python set of the NIK strings as they arrive cost ~175 us per
# 1000-item call here (hashing fresh strings, then a cache miss per probe); this costs a
# parse and, mostly, one probe into a flat array.

cdef inline uint64_t _mix64(uint64_t x) noexcept nogil:
    # splitmix64 finaliser: NIKs share long prefixes, so spread the bits before masking
    x ^= x >> 30
    x *= 0xbf58476d1ce4e5b9ULL
    x ^= x >> 27
    x *= 0x94d049bb133111ebULL
    x ^= x >> 31
    return x


cdef class NikSet:
    """NIKs (0 is never a NIK, so it marks an empty slot). `add_found` adds the NIKs of a
    call whose item status is FOUND and returns the ones it had not seen, packed as
    native u64. Holds at most `limit` NIKs: past that it forgets everything and starts
    again (its users treat it as a cache in front of a store that dedupes anyway)."""

    cdef uint64_t *table
    cdef Py_ssize_t cap
    cdef Py_ssize_t count
    cdef Py_ssize_t limit

    def __cinit__(self, Py_ssize_t limit=2_000_000):
        self.limit = max(16, limit)
        self.cap = 1024
        self.count = 0
        self.table = <uint64_t *>calloc(self.cap, sizeof(uint64_t))
        if self.table == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.table)

    def __len__(self):
        return self.count

    cdef bint _insert(self, uint64_t v) noexcept nogil:
        cdef Py_ssize_t mask = self.cap - 1
        cdef Py_ssize_t i = <Py_ssize_t>(_mix64(v) & <uint64_t>mask)
        while self.table[i] != 0:
            if self.table[i] == v:
                return False
            i = (i + 1) & mask
        self.table[i] = v
        self.count += 1
        return True

    cdef int _make_room(self) except -1:
        cdef Py_ssize_t old_cap = self.cap, i
        cdef uint64_t *old = self.table
        if self.count >= self.limit:
            memset(self.table, 0, self.cap * sizeof(uint64_t))
            self.count = 0
            return 0
        self.table = <uint64_t *>calloc(old_cap * 2, sizeof(uint64_t))
        if self.table == NULL:
            self.table = old
            raise MemoryError()
        self.cap = old_cap * 2
        self.count = 0
        for i in range(old_cap):
            if old[i] != 0:
                self._insert(old[i])
        free(old)
        return 0

    def add_found(self, list niks, const unsigned char[:] statuses, int found=1):
        """The NIKs of `niks` (str or int, as received) whose status is `found` and that
        were not in the set yet, now added; packed native u64 (array('Q') reads it).
        A FOUND item was validated by the engine, so strings are read as 16 digits."""
        cdef Py_ssize_t n = len(niks), i, slen, k, added = 0
        cdef const unsigned char *s
        cdef uint64_t v
        cdef object item
        if statuses.shape[0] != n:
            raise ValueError(f"{statuses.shape[0]} statuses for {n} NIKs")
        out = bytearray(8 * n)
        cdef uint64_t *dst = <uint64_t *><char *>out
        for i in range(n):
            if statuses[i] != found:
                continue
            item = niks[i]
            if type(item) is str:
                s = <const unsigned char *>PyUnicode_AsUTF8AndSize(item, &slen)
                if slen != 16:
                    continue
                v = 0
                for k in range(16):
                    v = v * 10 + (s[k] - 48)
            elif type(item) is int:
                v = PyLong_AsUnsignedLongLong(item)
            else:
                continue
            if v == 0:
                continue
            if (self.count + 1) * 10 > self.cap * 7:
                self._make_room()
            if self._insert(v):
                dst[added] = v
                added += 1
        del out[8 * added:]
        return bytes(out)

    def clear(self):
        memset(self.table, 0, self.cap * sizeof(uint64_t))
        self.count = 0


def nik_blocks(list niks):
    """Each NIK as one 16-byte block, as it arrived: a 16-digit string as its 16 ASCII
    digits, an integer as 8 zero bytes and 8 big-endian bytes (the audit log's NIK
    reference input, docs/audit.md). None when an item is neither (the caller then goes
    item by item)."""
    cdef Py_ssize_t n = len(niks), i, slen, k
    cdef const unsigned char *s
    cdef unsigned char *dst
    cdef uint64_t v
    cdef object item
    out = bytearray(16 * n)
    dst = <unsigned char *><char *>out
    for i in range(n):
        item = niks[i]
        if type(item) is str:
            s = <const unsigned char *>PyUnicode_AsUTF8AndSize(item, &slen)
            if slen != 16:
                return None
            for k in range(16):
                if s[k] < 48 or s[k] > 57:
                    return None
            memcpy(dst + 16 * i, s, 16)
        elif type(item) is int:
            if item < 0 or item >= 18446744073709551616:
                return None
            v = PyLong_AsUnsignedLongLong(item)
            memset(dst + 16 * i, 0, 8)
            for k in range(8):
                dst[16 * i + 15 - k] = <unsigned char>(v >> (8 * k))
        else:
            return None
    return bytes(out)
