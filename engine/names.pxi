# Free-text normalisation and scoring: the compiled twin of engine/names.py.
# Every step mirrors the reference; the tables are built from the reference's own tables
# at import (init_text_tables), so the two cannot drift apart on data, only on code, and
# the property tests watch the code.

DEF MAX_TOKENS = 128
DEF TOKBUF = 2048

cdef struct Tokens:
    int n
    int total
    int off[MAX_TOKENS]
    int len[MAX_TOKENS]
    unsigned char buf[TOKBUF]

cdef struct Entry:
    const unsigned char *key
    int klen
    const unsigned char *val
    int vlen

cdef struct DegreeSeq:
    int n
    int first            # index of the first element in _degree_parts

cdef enum:
    MAX_TABLE = 256

cdef Entry _titles[MAX_TABLE]
cdef int _n_titles = 0
cdef Entry _place_prefixes[MAX_TABLE]
cdef int _n_place_prefixes = 0
cdef Entry _person_variants[MAX_TABLE]
cdef int _n_person_variants = 0
cdef Entry _address_variants[MAX_TABLE]
cdef int _n_address_variants = 0
cdef Entry _degree_tail[MAX_TABLE * 2]
cdef int _n_degree_tail = 0
cdef Entry _rewrites[64]
cdef int _n_rewrites = 0
cdef Entry _degree_parts[MAX_TABLE * 3]
cdef DegreeSeq _degrees[MAX_TABLE]
cdef int _n_degrees = 0
cdef int _max_degree_token = 0
cdef unsigned char _latin1[64]
cdef int _initial_similarity = 900
cdef list _table_keepalive = []


cdef int _fill(Entry *table, int cap, list pairs) except -1:
    cdef int i = 0
    cdef bytes k, v
    if len(pairs) > cap:
        raise ValueError("text table too large for the compiled core")
    for k, v in pairs:
        _table_keepalive.append(k)
        _table_keepalive.append(v)
        table[i].key = <const unsigned char *>k
        table[i].klen = len(k)
        table[i].val = <const unsigned char *>v
        table[i].vlen = len(v)
        i += 1
    return i


def init_text_tables(ref):
    """Load titles, degrees, variants and rewrites from the reference module `ref`."""
    global _n_titles, _n_place_prefixes, _n_person_variants, _n_address_variants
    global _n_rewrites, _n_degrees, _n_degree_tail, _max_degree_token, _initial_similarity
    from .schema import TextKind
    _n_titles = _fill(_titles, MAX_TABLE, [(t, t) for t in sorted(ref.PERSON_TITLES)])
    _n_place_prefixes = _fill(_place_prefixes, MAX_TABLE,
                              [(t, t) for t in sorted(ref.PLACE_PREFIXES)])
    _n_person_variants = _fill(_person_variants, MAX_TABLE,
                               sorted(ref.VARIANTS[TextKind.PERSON].items()))
    _n_address_variants = _fill(_address_variants, MAX_TABLE,
                                sorted(ref.VARIANTS[TextKind.ADDRESS].items()))
    if ref.VARIANTS[TextKind.PLACE]:
        raise ValueError("the compiled core has no place variants table")
    _n_rewrites = _fill(_rewrites, 64, list(ref.REWRITES))
    _n_degree_tail = _fill(_degree_tail, MAX_TABLE * 2, [(t, t) for t in sorted(ref.DEGREE_TAIL)])
    parts = []
    cdef int i = 0
    for seq in ref.PERSON_DEGREES:
        _degrees[i].n = len(seq)
        _degrees[i].first = len(parts)
        for p in seq:
            parts.append((p, p))
            _max_degree_token = max(_max_degree_token, len(p))
        i += 1
    _n_degrees = i
    _fill(_degree_parts, MAX_TABLE * 3, parts)
    latin = ref._LATIN1
    for i in range(64):
        _latin1[i] = latin[i]
    _initial_similarity = ref.INITIAL_SIMILARITY


cdef inline bint _eq(const unsigned char *a, int alen, const unsigned char *b, int blen) noexcept nogil:
    return alen == blen and memcmp(a, b, alen) == 0


cdef inline int _find(const Entry *table, int n, const unsigned char *s, int slen) noexcept nogil:
    cdef int i
    for i in range(n):
        if table[i].klen == slen and memcmp(table[i].key, s, slen) == 0:
            return i
    return -1


cdef int _raw_tokens(const unsigned char *s, int n, Tokens *t) noexcept nogil:
    """Split into uppercase ASCII/Latin-1-folded tokens (see names._raw_tokens)."""
    cdef int i = 0, pos = 0, start = 0
    cdef unsigned char c, folded
    t.n = 0
    while i < n:
        c = s[i]
        if 97 <= c <= 122:
            t.buf[pos] = c - 32
            pos += 1
            i += 1
        elif (48 <= c <= 57) or (65 <= c <= 90):
            t.buf[pos] = c
            pos += 1
            i += 1
        elif c == 0x27 or c == 0x60:
            i += 1
        elif c == 0xE2 and i + 2 < n and s[i + 1] == 0x80 and (s[i + 2] == 0x98 or s[i + 2] == 0x99):
            i += 3
        elif c == 0xC3 and i + 1 < n and 0x80 <= s[i + 1] <= 0xBF:
            folded = _latin1[s[i + 1] - 0x80]
            if folded:
                t.buf[pos] = folded
                pos += 1
            elif pos > start:
                if t.n < MAX_TOKENS:
                    t.off[t.n] = start
                    t.len[t.n] = pos - start
                    t.n += 1
                start = pos
            i += 2
        elif c >= 0x80:
            t.buf[pos] = c
            pos += 1
            i += 1
        else:
            if pos > start:
                if t.n < MAX_TOKENS:
                    t.off[t.n] = start
                    t.len[t.n] = pos - start
                    t.n += 1
                start = pos
            i += 1
    if pos > start and t.n < MAX_TOKENS:
        t.off[t.n] = start
        t.len[t.n] = pos - start
        t.n += 1
    return pos


cdef inline void _drop_first(Tokens *t) noexcept nogil:
    cdef int i
    for i in range(1, t.n):
        t.off[i - 1] = t.off[i]
        t.len[i - 1] = t.len[i]
    t.n -= 1


cdef void _strip_degrees(Tokens *t) noexcept nogil:
    cdef bint changed = True
    cdef int d, k, j, ti
    cdef const Entry *part
    while changed:
        changed = False
        if t.n < 2 or t.len[t.n - 1] > _max_degree_token:
            return
        for d in range(_n_degrees):
            k = _degrees[d].n
            if t.n <= k:
                continue
            for j in range(k):
                ti = t.n - k + j
                part = &_degree_parts[_degrees[d].first + j]
                if not _eq(t.buf + t.off[ti], t.len[ti], part.key, part.klen):
                    break
            else:
                t.n -= k
                changed = True
                break


cdef int _canonical(const unsigned char *s, int n, unsigned char *out) noexcept nogil:
    """Old-spelling rewrites, doubled-letter folding, trailing Y -> I. Returns length."""
    cdef unsigned char tmp[512]
    cdef int i = 0, m = 0, r, k, o = 0
    cdef const Entry *rw
    while i < n:
        for r in range(_n_rewrites):
            rw = &_rewrites[r]
            if i + rw.klen <= n and memcmp(s + i, rw.key, rw.klen) == 0:
                memcpy(tmp + m, rw.val, rw.vlen)
                m += rw.vlen
                i += rw.klen
                break
        else:
            tmp[m] = s[i]
            m += 1
            i += 1
    for k in range(m):
        if o > 0 and tmp[k] == out[o - 1] and 65 <= tmp[k] <= 90:
            continue
        out[o] = tmp[k]
        o += 1
    if o > 2 and out[o - 1] == 0x59:
        out[o - 1] = 0x49
    return o


cdef int text_tokens(const unsigned char *s, int n, int kind, Tokens *out) noexcept nogil:
    """Canonical tokens of a text (names.tokens). `out` gets its own buffer."""
    cdef Tokens raw
    cdef int i, pos = 0, slen, v
    cdef const unsigned char *src
    cdef const unsigned char *comma
    if kind == TK_PERSON:  # degrees follow the first comma
        comma = <const unsigned char *>memchr(s, 44, n)
        if comma != NULL:
            _raw_tokens(comma + 1, n - (comma - s) - 1, &raw)
            for i in range(raw.n):
                if _find(_degree_tail, _n_degree_tail, raw.buf + raw.off[i], raw.len[i]) < 0:
                    break
            else:
                n = comma - s
    _raw_tokens(s, n, &raw)
    if kind == TK_PERSON:
        while raw.n > 1 and _find(_titles, _n_titles, raw.buf + raw.off[0], raw.len[0]) >= 0:
            _drop_first(&raw)
        _strip_degrees(&raw)
    elif kind == TK_PLACE:
        while raw.n > 1 and _find(_place_prefixes, _n_place_prefixes,
                                  raw.buf + raw.off[0], raw.len[0]) >= 0:
            _drop_first(&raw)
    out.n = raw.n
    out.total = 0
    for i in range(raw.n):
        src = raw.buf + raw.off[i]
        slen = raw.len[i]
        if kind == TK_PERSON and i == 0 and raw.n > 1 and slen == 1 and src[0] == 77:  # "M."
            src = <const unsigned char *>b"MUHAMMAD"
            slen = 8
        else:
            if kind == TK_PERSON:
                v = _find(_person_variants, _n_person_variants, src, slen)
                if v >= 0:
                    src = _person_variants[v].val
                    slen = _person_variants[v].vlen
            elif kind == TK_ADDRESS:
                v = _find(_address_variants, _n_address_variants, src, slen)
                if v >= 0:
                    src = _address_variants[v].val
                    slen = _address_variants[v].vlen
        out.off[i] = pos
        out.len[i] = _canonical(src, slen, out.buf + pos)
        pos += out.len[i]
        out.total += out.len[i]
    return out.n


cdef int _levenshtein(const unsigned char *a, int la, const unsigned char *b, int lb) noexcept nogil:
    cdef int prev[MAX_TEXT + 16]
    cdef int cur[MAX_TEXT + 16]
    cdef int i, j, best, x
    for j in range(lb + 1):
        prev[j] = j
    for i in range(1, la + 1):
        cur[0] = i
        for j in range(1, lb + 1):
            best = prev[j] + 1
            x = cur[j - 1] + 1
            if x < best:
                best = x
            x = prev[j - 1] + (a[i - 1] != b[j - 1])
            if x < best:
                best = x
            cur[j] = best
        for j in range(lb + 1):
            prev[j] = cur[j]
    return prev[lb]


cdef inline bint _has_digit(const unsigned char *x, int n) noexcept nogil:
    cdef int i
    for i in range(n):
        if 48 <= x[i] <= 57:
            return True
    return False


cdef bint _folded_equal(const unsigned char *a, int na, const unsigned char *b, int nb) noexcept nogil:
    """Equal once doubled letters are folded (names._fold) on both sides."""
    cdef int i = 0, j = 0
    cdef int pa = -1, pb = -1
    while True:
        while i < na and a[i] == pa and 65 <= a[i] <= 90:
            i += 1
        while j < nb and b[j] == pb and 65 <= b[j] <= 90:
            j += 1
        if i == na or j == nb:
            return i == na and j == nb
        if a[i] != b[j]:
            return False
        pa = a[i]
        pb = b[j]
        i += 1
        j += 1


cdef inline int _similarity(const unsigned char *x, int lx, const unsigned char *y, int ly) noexcept nogil:
    cdef int m
    if _eq(x, lx, y, ly):
        return 1000
    if _has_digit(x, lx) or _has_digit(y, ly):
        return 0
    if (lx == 1 and ly > 1 and y[0] == x[0]) or (ly == 1 and lx > 1 and x[0] == y[0]):
        return _initial_similarity
    m = lx if lx > ly else ly
    return (m - _levenshtein(x, lx, y, ly)) * 1000 // m


cdef inline int _tokcmp(const Tokens *t, int i, int j) noexcept nogil:
    cdef int li = t.len[i], lj = t.len[j]
    cdef int c = memcmp(t.buf + t.off[i], t.buf + t.off[j], li if li < lj else lj)
    if c != 0:
        return c
    return li - lj


cdef void _sort_order(const Tokens *t, int *order) noexcept nogil:
    # insertion sort: token lists are short
    cdef int i, j, v
    for i in range(t.n):
        order[i] = i
    for i in range(1, t.n):
        v = order[i]
        j = i - 1
        while j >= 0 and _tokcmp(t, order[j], v) > 0:
            order[j + 1] = order[j]
            j -= 1
        order[j + 1] = v


cdef bint _same_multiset(const Tokens *a, const Tokens *b) noexcept nogil:
    cdef int oa[MAX_TOKENS]
    cdef int ob[MAX_TOKENS]
    cdef int i
    if a.n != b.n or a.total != b.total:
        return False
    _sort_order(a, oa)
    _sort_order(b, ob)
    for i in range(a.n):
        if not _eq(a.buf + a.off[oa[i]], a.len[oa[i]], b.buf + b.off[ob[i]], b.len[ob[i]]):
            return False
    return True


cdef int score_tokens(const Tokens *a, const Tokens *b) noexcept nogil:
    cdef int sims[MAX_TOKENS * MAX_TOKENS]
    cdef bint used_a[MAX_TOKENS]
    cdef bint used_b[MAX_TOKENS]
    cdef int i, j, r, best, bi, bj, rounds
    cdef long long num = 0, den
    cdef bint same_order
    if a.n == 0 or b.n == 0:
        return 0
    # joined (and folded across the joins) equality covers equality in order too
    if _folded_equal(a.buf, a.total, b.buf, b.total):
        return 100
    if _same_multiset(a, b):
        return 100
    for i in range(a.n):
        used_a[i] = False
        for j in range(b.n):
            sims[i * b.n + j] = _similarity(a.buf + a.off[i], a.len[i], b.buf + b.off[j], b.len[j])
    for j in range(b.n):
        used_b[j] = False
    rounds = a.n if a.n < b.n else b.n
    for r in range(rounds):
        best = -1
        bi = -1
        bj = -1
        for i in range(a.n):
            if used_a[i]:
                continue
            for j in range(b.n):
                if not used_b[j] and sims[i * b.n + j] > best:
                    best = sims[i * b.n + j]
                    bi = i
                    bj = j
        used_a[bi] = True
        used_b[bj] = True
        num += <long long>best * (a.len[bi] + b.len[bj])
    den = 1000 * <long long>(a.total + b.total)
    return <int>(100 * num // den)


cdef int text_score(const unsigned char *stored, int slen, const unsigned char *claimed,
                    int clen, int kind) noexcept nogil:
    """Score 0-100 of a claimed text against the stored one (names.score)."""
    cdef Tokens a
    cdef Tokens b
    cdef int i, head
    cdef const unsigned char *comma
    if slen == clen and memcmp(stored, claimed, slen) == 0:
        # Identical input scores 100 when it has a token. An ASCII letter or digit before
        # any comma guarantees one (prefix stripping never removes the last token).
        head = slen
        if kind == TK_PERSON:
            comma = <const unsigned char *>memchr(stored, 44, slen)
            if comma != NULL:
                head = comma - stored
        for i in range(head):
            if (48 <= stored[i] <= 57) or (65 <= stored[i] <= 90) or (97 <= stored[i] <= 122):
                return 100
    text_tokens(stored, slen, kind, &a)
    text_tokens(claimed, clen, kind, &b)
    return score_tokens(&a, &b)


cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object o)   # the str's ascii flag: O(1)

import unicodedata as _unicodedata
cdef object _nfkc = _unicodedata.normalize
cdef object _category = _unicodedata.category
cdef frozenset _dropped_categories = frozenset(("Cf", "Mn", "Me"))


cdef object normal_text(object text):
    """names.normalize for a str: NFKC, zero-width spaces as spaces, other format
    characters and leftover combining marks dropped. ASCII text costs one flag test and comes back as the same object; a normal form
    longer than MAX_TEXT bytes is not used (the text is scored as sent)."""
    cdef str out
    cdef list parts
    cdef Py_ssize_t i, start = 0
    cdef Py_UCS4 ch
    if PyUnicode_IS_ASCII(text):
        return text
    out = _nfkc("NFKC", text)
    parts = []
    for i in range(len(out)):
        ch = out[i]
        # every Cf, Mn and Me code point is U+00AD or above
        if ch >= 0xAD and _category(ch) in _dropped_categories:
            parts.append(out[start:i])
            if ch == 0x200B:
                parts.append(" ")  # the zero-width space is a word break: it separates
            start = i + 1
    if parts:
        parts.append(out[start:])
        out = "".join(parts)
    if len(out.encode("utf-8", "surrogatepass")) > MAX_TEXT:
        return text
    return out


cdef bytes normal_bytes(bytes raw):
    """normal_text for UTF-8 bytes (names._normal_bytes)."""
    if raw.isascii():
        return raw
    text = raw.decode("utf-8", "surrogateescape")
    normal = normal_text(text)
    return raw if normal is text else normal.encode("utf-8", "surrogateescape")


cdef bytes _scored_bytes(object text):
    """The bytes the scorer compares for one text: checked for length as sent, then put in
    normal form."""
    cdef bytes raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if len(raw) > MAX_TEXT:
        raise ValueError(f"text longer than {MAX_TEXT} bytes")
    if isinstance(text, str):
        normal = normal_text(text)
        return raw if normal is text else normal.encode("utf-8")
    return normal_bytes(raw)


def py_normal_text(str text not None):
    """The text the scorer compares (NFKC, invisible marks dropped), as the core computes it."""
    return normal_text(text)


def py_text_tokens(text, int kind):
    """Canonical tokens as computed by the compiled core (for tests)."""
    cdef bytes raw = _scored_bytes(text)
    cdef Tokens t
    text_tokens(<const unsigned char *>raw, len(raw), kind, &t)
    return [bytes(t.buf[t.off[i]:t.off[i] + t.len[i]]) for i in range(t.n)]


def py_text_score(stored, claimed, int kind):
    """Score as computed by the compiled core (for tests and the facade's single calls)."""
    cdef bytes a = _scored_bytes(stored)
    cdef bytes b = _scored_bytes(claimed)
    return text_score(<const unsigned char *>a, len(a), <const unsigned char *>b, len(b), kind)
