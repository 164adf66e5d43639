"""Pure-Python reference of free-text normalisation and scoring (names, places, addresses).

This is the specification the compiled core (`names.pxi`) implements byte for byte;
property tests assert the two agree. Production code calls the compiled core through the
facade; this module is the oracle and the readable statement of the rule, which
docs/scoring.md explains in prose.

In short: non-ASCII text is first put in NFKC form with invisible marks dropped
(`normalize`), then reduced to canonical tokens (case, punctuation, titles, degrees,
spelling variants and old spellings folded); two token lists score 100 when they are
equal in order, equal joined without spaces, or equal as multisets; otherwise tokens are
aligned greedily by similarity and the score is the length-weighted share of matched
characters, floored to an integer 0-100.
"""

from __future__ import annotations

import unicodedata

from .schema import MAX_TEXT_BYTES, TextKind

__all__ = ["normalize", "tokens", "score", "score_person_name", "MAX_TOKENS",
           "INITIAL_SIMILARITY"]

MAX_TOKENS = 128           # a 255-byte text cannot hold more
INITIAL_SIMILARITY = 900   # permille credit for "B" against "BUDI"

PERSON_TITLES = frozenset(
    b"H HJ HAJI HAJJAH DR DRS DRA DRG DRH IR PROF KH TGK".split()
)
PLACE_PREFIXES = frozenset(b"KAB KABUPATEN KOTA KOTAMADYA ADM ADMINISTRASI".split())

# Academic degrees as written after a name. Each is stripped at the end of a name both as
# one token ("SKOM") and split at its dots ("S", "KOM").
_DEGREES = (
    "S.KOM S.H S.E S.PD S.T S.SOS S.AG S.KED S.KM S.IP S.PSI S.KEP S.FARM S.SI S.S S.HUT "
    "S.IKOM S.TP S.PT S.PI S.STP S.GZ S.AK S.HI S.PD.I S.TH S.ST S.TR M.M M.T M.SI M.PD "
    "M.KES M.AG M.KOM M.H M.SC M.AK M.AP M.KN M.HUM M.E MBA PH.D A.MD A.MA A.MD.KEB A.MD.KEP "
    "SP.OG SP.A SP.PD SP.B B.SC AMD AMD.KEB AMD.KEP AMD.FARM S.KEP.NS"
).split()
PERSON_DEGREES: tuple[tuple[bytes, ...], ...] = tuple(
    sorted(
        {tuple(d.encode().split(b".")) for d in _DEGREES}
        | {(d.replace(".", "").encode(),) for d in _DEGREES},
        key=lambda seq: (-len(seq), seq),  # longest sequence first
    )
)

_PERSON_VARIANTS = {
    "MUHAMMAD": "MUHAMMAD MUHAMAD MUHAMMED MUHAMED MOHAMMAD MOHAMAD MOHAMMED MOHAMED "
                "MOCHAMMAD MOCHAMAD MOCHAMMED MUCHAMMAD MUCHAMAD MOCH MOH MUH MHD MUHD MOHD "
                "MHMD MUHAMMAT MOCHAMAT MUCHAMAT MOKHAMAD MUKHAMAD",
    "ABDUL": "ABD ABDOEL",
    "SITI": "SITTI",
    "NUR": "NOOR",
}
_ADDRESS_VARIANTS = {
    "JALAN": "JL JLN",
    "GANG": "GG",
    "KAMPUNG": "KP KAMP",
    "PERUMAHAN": "PERUM",
    "KOMPLEK": "KOMP KOMPLEKS",
    "BLOK": "BLK",
    "NO": "NOMOR NMR",
    "DUSUN": "DS DSN",
    "DUKUH": "DK",
    "LINGKUNGAN": "LK LINGK",
}


# What may follow the first comma of a name and be dropped: degrees (split at their dots)
# and titles. "SIREGAR, MARIA" keeps both parts: the comma then only separates.
DEGREE_TAIL = frozenset(part for seq in PERSON_DEGREES for part in seq) | PERSON_TITLES


def _variant_table(spec: dict[str, str]) -> dict[bytes, bytes]:
    return {v.encode(): k.encode() for k, vs in spec.items() for v in vs.split()}


VARIANTS: dict[TextKind, dict[bytes, bytes]] = {
    TextKind.PERSON: _variant_table(_PERSON_VARIANTS),
    TextKind.PLACE: {},
    TextKind.ADDRESS: _variant_table(_ADDRESS_VARIANTS),
}

# Old (pre-1972) spellings and common transliteration pairs, rewritten left to right; the
# output is not rescanned.
REWRITES: tuple[tuple[bytes, bytes], ...] = (
    (b"OE", b"U"), (b"DJ", b"Y"), (b"TJ", b"C"), (b"SJ", b"SY"), (b"NJ", b"NY"),
    (b"CH", b"H"), (b"KH", b"H"), (b"DH", b"D"), (b"TH", b"T"), (b"PH", b"F"),
    (b"DZ", b"Z"), (b"Q", b"K"), (b"J", b"Y"),
)
# Old J is today's Y (JUSUF / YUSUF) and old DJ today's J (DJOKO / JOKO): no key can keep
# both apart, so J and Y share one key, and DJ joins them.

# Latin-1 letters (U+00C0..U+00FF, UTF-8 C3 80..C3 BF) folded to ASCII; 0 = separator.
_LATIN1 = (
    b"AAAAAAACEEEEIIII" b"DNOOOOO\x00OUUUUYTS"
    b"AAAAAAACEEEEIIII" b"DNOOOOO\x00OUUUUYTY"
)
_DELETED = {0x27, 0x60}  # apostrophe and backtick join: MA'RUF -> MARUF
_QUOTES = (b"\xe2\x80\x98", b"\xe2\x80\x99")  # typographic quotes, also deleted


# Dropped after NFKC: format characters (joiners U+200C/U+200D, word joiner, BOM, soft
# hyphen) and combining marks left over once composition is done (a stray accent on a
# letter with no precomposed form). All are invisible or accents, and accents fold anyway.
# The zero-width space is a word break, so it separates like a space instead.
DROPPED_CATEGORIES = frozenset({"Cf", "Mn", "Me"})
ZERO_WIDTH_SPACE = "\u200b"


def normalize(text: str) -> str:
    """The text scoring compares: NFKC (no-break and ideographic spaces become spaces,
    full-width letters ASCII, decomposed accents composed), zero-width spaces as spaces,
    other invisible marks dropped.

    ASCII text is returned as is (NFKC leaves it unchanged). When the normal form would
    not fit the MAX_TEXT_BYTES a text may have (only compatibility ligatures expand that
    much), the text is scored as sent.
    """
    if text.isascii():
        return text
    out = unicodedata.normalize("NFKC", text).replace(ZERO_WIDTH_SPACE, " ")
    out = "".join(ch for ch in out if unicodedata.category(ch) not in DROPPED_CATEGORIES)
    return out if len(out.encode("utf-8", "surrogatepass")) <= MAX_TEXT_BYTES else text


def _normal_bytes(raw: bytes) -> bytes:
    if raw.isascii():
        return raw
    text = raw.decode("utf-8", "surrogateescape")
    normal = normalize(text)
    return raw if normal is text else normal.encode("utf-8", "surrogateescape")


def _raw_tokens(text: bytes) -> list[bytes]:
    out: list[bytes] = []
    cur = bytearray()
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if 97 <= c <= 122:
            cur.append(c - 32)
            i += 1
        elif (48 <= c <= 57) or (65 <= c <= 90):
            cur.append(c)
            i += 1
        elif c in _DELETED:
            i += 1
        elif c == 0xE2 and text[i:i + 3] in _QUOTES:
            i += 3
        elif c == 0xC3 and i + 1 < n and 0x80 <= text[i + 1] <= 0xBF:
            folded = _LATIN1[text[i + 1] - 0x80]
            if folded:
                cur.append(folded)
            elif cur:
                out.append(bytes(cur))
                cur.clear()
            i += 2
        elif c >= 0x80:
            cur.append(c)
            i += 1
        else:
            if cur:
                out.append(bytes(cur))
                cur.clear()
            i += 1
    if cur:
        out.append(bytes(cur))
    return out[:MAX_TOKENS]


def _strip_degrees(toks: list[bytes]) -> list[bytes]:
    changed = True
    while changed:
        changed = False
        for seq in PERSON_DEGREES:
            k = len(seq)
            if len(toks) > k and tuple(toks[-k:]) == seq:
                del toks[-k:]
                changed = True
                break
    return toks


def _canonical(tok: bytes) -> bytes:
    out = bytearray()
    i, n = 0, len(tok)
    while i < n:
        for src, dst in REWRITES:
            if tok.startswith(src, i):
                out += dst
                i += len(src)
                break
        else:
            out.append(tok[i])
            i += 1
    # Doubled letters fold (ABDULLAH / ABDULAH); digits never do (NO 11 is not NO 1).
    folded = bytearray(_fold(bytes(out)))
    if len(folded) > 2 and folded[-1] == 0x59:  # trailing Y reads as I: HENDRY / HENDRI
        folded[-1] = 0x49
    return bytes(folded)


def tokens(text: str | bytes, kind: TextKind) -> list[bytes]:
    """The canonical tokens of a text, as the scorer compares them."""
    raw = normalize(text).encode("utf-8") if isinstance(text, str) else _normal_bytes(text)
    if kind is TextKind.PERSON:
        comma = raw.find(b",")
        # Indonesian names put degrees after the first comma
        if comma >= 0 and all(t in DEGREE_TAIL for t in _raw_tokens(raw[comma + 1:])):
            raw = raw[:comma]
    toks = _raw_tokens(raw)
    if kind is TextKind.PERSON:
        while len(toks) > 1 and toks[0] in PERSON_TITLES:
            del toks[0]
        _strip_degrees(toks)
        if len(toks) > 1 and toks[0] == b"M":  # "M. Rizki" is how Muhammad is abbreviated
            toks[0] = b"MUHAMMAD"
    elif kind is TextKind.PLACE:
        while len(toks) > 1 and toks[0] in PLACE_PREFIXES:
            del toks[0]
    variants = VARIANTS[kind]
    return [_canonical(variants.get(t, t)) for t in toks]


def _levenshtein(a: bytes, b: bytes) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _has_digit(tok: bytes) -> bool:
    return any(48 <= c <= 57 for c in tok)


def _fold(text: bytes) -> bytes:
    """Doubled letters folded (digits never are)."""
    out = bytearray()
    for c in text:
        if out and c == out[-1] and 65 <= c <= 90:
            continue
        out.append(c)
    return bytes(out)


def similarity(x: bytes, y: bytes) -> int:
    """Permille similarity of two canonical tokens."""
    if x == y:
        return 1000
    if _has_digit(x) or _has_digit(y):
        return 0  # numbers (house, block) match exactly or not at all
    if (len(x) == 1 and len(y) > 1 and y[0] == x[0]) or (
        len(y) == 1 and len(x) > 1 and x[0] == y[0]
    ):
        return INITIAL_SIMILARITY
    m = max(len(x), len(y))
    return (m - _levenshtein(x, y)) * 1000 // m


def score_tokens(a: list[bytes], b: list[bytes]) -> int:
    """Score 0-100 of claimed tokens `b` against stored tokens `a`."""
    if not a or not b:
        return 0
    # joined and folded across the joins: NUR HALIZA / NURHALIZA, FATHUR RAHMAN / FATHURRAHMAN
    if _fold(b"".join(a)) == _fold(b"".join(b)) or sorted(a) == sorted(b):
        return 100
    sims = [[similarity(x, y) for y in b] for x in a]
    used_a = [False] * len(a)
    used_b = [False] * len(b)
    num = 0
    for _ in range(min(len(a), len(b))):
        best, bi, bj = -1, -1, -1
        for i in range(len(a)):
            if used_a[i]:
                continue
            row = sims[i]
            for j in range(len(b)):
                if not used_b[j] and row[j] > best:  # strict: ties keep the lowest i, j
                    best, bi, bj = row[j], i, j
        used_a[bi] = used_b[bj] = True
        num += best * (len(a[bi]) + len(b[bj]))
    den = 1000 * (sum(map(len, a)) + sum(map(len, b)))
    return 100 * num // den


def score(stored: str | bytes, claimed: str | bytes, kind: TextKind) -> int:
    """Score 0-100 of a claimed text against the stored one under `kind`'s rules."""
    return score_tokens(tokens(stored, kind), tokens(claimed, kind))


def score_person_name(stored: str, claimed: str) -> int:
    """Score a claimed person's name against the stored one (the NAMA_LGKP rule)."""
    return score(stored, claimed, TextKind.PERSON)
