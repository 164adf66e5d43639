# The key file and the key-set digest: what lets a lookup miss tell "not stored" from
# "stored but unreachable through a damaged B-tree". Mirrored by engine/keyset.py.
#
# keys.u64 (one per generation, written by the build, never changed afterwards):
#   0 u64 magic "NIKKEYS1"   8 u64 count   16.. count native u64 NIKs, strictly ascending
# It is mmapped read-only and consulted only after mdb_get misses, so a hit costs nothing.
#
# The key-set digest is the sum modulo 2^128 of xxh3-128(NIK as 8 native bytes, seed
# KEYSET_SEED) over every stored NIK: order-independent (a walk, a file and a delta give
# the same number), and a delta updates it by adding or subtracting one hash. A sum,
# not a XOR: a key seen twice by a damaged walk does not cancel out.

from libc.stdio cimport fseek, fflush, SEEK_SET
from posix.stdio cimport fileno
from posix.unistd cimport fsync

cdef extern from "xxhash.h" nogil:
    ctypedef struct XXH128_hash_t:
        unsigned long long low64
        unsigned long long high64
    XXH128_hash_t XXH3_128bits_withSeed(const void *data, size_t len, unsigned long long seed)

DEF KEYS_HEADER = 16
DEF KEYS_BUFFER = 4096
DEF KEYS_STRIDE = 256   # one key in 256 is copied to a small top array (see keys_contain)
cdef uint64_t KEYS_MAGIC = 0x315359454b4b494e  # b"NIKKEYS1" read as a little-endian u64
cdef uint64_t KEYSET_SEED = 0x6e696b6761746531  # "nikgate1" as big-endian ASCII: a fixed tag


cdef struct Digest128:
    uint64_t lo
    uint64_t hi


cdef inline void digest_add(Digest128 *d, uint64_t nik) noexcept nogil:
    cdef XXH128_hash_t h = XXH3_128bits_withSeed(&nik, 8, KEYSET_SEED)
    cdef uint64_t lo = d.lo + h.low64
    d.hi += h.high64 + (1 if lo < d.lo else 0)
    d.lo = lo


cdef inline object digest_int(Digest128 d):
    return (<object>d.hi << 64) | <object>d.lo


def py_key_hash(uint64_t nik):
    """xxh3-128 of one NIK as the key-set digest adds it (a 128-bit int)."""
    cdef XXH128_hash_t h = XXH3_128bits_withSeed(&nik, 8, KEYSET_SEED)
    return (<object>h.high64 << 64) | <object>h.low64


cdef inline Py_ssize_t keys_lower_bound(const uint64_t *keys, Py_ssize_t n,
                                        uint64_t nik) noexcept nogil:
    cdef Py_ssize_t lo = 0, hi = n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < nik:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef inline bint keys_contain(const uint64_t *keys, Py_ssize_t n, const uint64_t *top,
                              Py_ssize_t ntop, uint64_t nik) noexcept nogil:
    """Binary search in two steps: the top array (every KEYS_STRIDE-th key, in cache)
    picks a 2 KiB block of the mmapped file, searched next. One search over the whole
    file cost ~470 ns at 1M keys (a cache miss per step)."""
    cdef Py_ssize_t b = keys_lower_bound(top, ntop, nik), lo, i
    if b < ntop and top[b] == nik:
        return True
    if b == 0:
        return False
    lo = (b - 1) * KEYS_STRIDE
    i = lo + keys_lower_bound(keys + lo, min(n - lo, KEYS_STRIDE), nik)
    return i < n and keys[i] == nik


cdef class KeyFile:
    """A generation's key file, mmapped read-only; safe to share across threads."""
    cdef object _mm
    cdef const unsigned char[:] _view
    cdef const uint64_t *keys
    cdef uint64_t *top
    cdef Py_ssize_t ntop
    cdef readonly Py_ssize_t count
    cdef readonly str path

    def __dealloc__(self):
        free(self.top)

    def __cinit__(self, str path):
        import mmap
        self.path = path
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            if size < KEYS_HEADER:
                raise StoreError(f"key file {path} is truncated ({size} bytes); "
                                 "rebuild the index with `nikgate index build`")
            self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._view = self._mm
        cdef const unsigned char *base = &self._view[0]
        if _u64(base) != KEYS_MAGIC:
            raise StoreError(f"{path} is not a nikgate key file (bad magic); "
                             "rebuild the index with `nikgate index build`")
        self.count = <Py_ssize_t>_u64(base + 8)
        if KEYS_HEADER + 8 * self.count != size:
            raise StoreError(f"key file {path} holds {size} bytes, its header promises "
                             f"{KEYS_HEADER + 8 * self.count}: it is damaged; rebuild the "
                             "index with `nikgate index build`")
        self.keys = <const uint64_t *>(base + KEYS_HEADER)
        self.ntop = (self.count + KEYS_STRIDE - 1) // KEYS_STRIDE
        self.top = <uint64_t *>malloc(max(self.ntop, 1) * sizeof(uint64_t))
        if self.top == NULL:
            raise MemoryError()
        cdef Py_ssize_t i
        for i in range(self.ntop):
            self.top[i] = self.keys[i * KEYS_STRIDE]

    def __len__(self):
        return self.count

    def __contains__(self, uint64_t nik):
        return keys_contain(self.keys, self.count, self.top, self.ntop, nik)

    def key_at(self, Py_ssize_t i):
        if not 0 <= i < self.count:
            raise IndexError(i)
        return self.keys[i]

    def scan(self, Py_ssize_t start, Py_ssize_t limit):
        """(checked, digest, order breaks) over entries [start, start+limit): an entry not
        greater than the one before it is an order break (the file is damaged)."""
        cdef Py_ssize_t end = min(self.count, start + max(limit, 0)), i
        cdef Digest128 d
        cdef uint64_t breaks = 0
        d.lo = 0
        d.hi = 0
        if start < 0 or start > self.count:
            raise IndexError(start)
        with nogil:
            for i in range(start, end):
                if i > 0 and self.keys[i] <= self.keys[i - 1]:
                    breaks += 1
                digest_add(&d, self.keys[i])
        return end - start, digest_int(d), breaks


cdef class KeyWriter:
    """Writes a key file from NIKs given in ascending order; computes count and digest."""
    cdef FILE *f
    cdef uint64_t buf[KEYS_BUFFER]
    cdef int nbuf
    cdef readonly uint64_t count
    cdef Digest128 d
    cdef uint64_t last
    cdef bint io_failed
    cdef bint unordered
    cdef readonly str path

    def __cinit__(self, str path):
        cdef uint64_t header[2]
        self.path = path
        self.f = fopen(path.encode(), "wb")
        if self.f == NULL:
            raise OSError(f"cannot write key file {path}")
        header[0] = KEYS_MAGIC
        header[1] = 0  # the count, written by close()
        if fwrite(header, 8, 2, self.f) != 2:
            self.io_failed = True

    def __dealloc__(self):
        if self.f != NULL:
            fclose(self.f)

    cdef void add(self, uint64_t nik) noexcept nogil:
        if self.count and nik <= self.last:
            self.unordered = True
        self.last = nik
        digest_add(&self.d, nik)
        self.count += 1
        self.buf[self.nbuf] = nik
        self.nbuf += 1
        if self.nbuf == KEYS_BUFFER:
            self._flush()

    cdef void _flush(self) noexcept nogil:
        if self.nbuf and fwrite(self.buf, 8, self.nbuf, self.f) != <size_t>self.nbuf:
            self.io_failed = True
        self.nbuf = 0

    def add_many(self, list niks):
        cdef object nik
        for nik in niks:
            self.add(<uint64_t>nik)

    @property
    def digest(self):
        return digest_int(self.d)

    def close(self):
        """Finish the header, flush and fsync: the file is durable when this returns."""
        cdef uint64_t count = self.count
        if self.f == NULL:
            return
        self._flush()
        if fseek(self.f, 8, SEEK_SET) != 0 or fwrite(&count, 8, 1, self.f) != 1:
            self.io_failed = True
        if fflush(self.f) != 0 or fsync(fileno(self.f)) != 0:
            self.io_failed = True
        fclose(self.f)
        self.f = NULL
        if self.unordered:
            raise ValueError(f"key file {self.path}: NIKs were not given in ascending order")
        if self.io_failed:
            raise OSError(f"cannot write key file {self.path} (disk full?)")
