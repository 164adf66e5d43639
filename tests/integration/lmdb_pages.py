"""Finding an LMDB file's pages by kind, for tests that damage an index on purpose."""

from __future__ import annotations

PAGE = 4096
P_BRANCH, P_LEAF = 0x01, 0x02
_P_OVERFLOW = 0x04


def pages(data: bytes, kind: int) -> list[int]:
    """Page numbers of `kind` (P_BRANCH or P_LEAF) in an LMDB file's bytes; pages 0 and 1
    are the meta pages. An overflow run (a value larger than a page) is skipped whole: only
    its first page has a header."""
    out, p = [], 2
    while p < len(data) // PAGE:
        flags = int.from_bytes(data[p * PAGE + 10:p * PAGE + 12], "little")
        if flags & _P_OVERFLOW:   # mp_pages (u32 at 12) pages of one value
            p += max(1, int.from_bytes(data[p * PAGE + 12:p * PAGE + 16], "little"))
            continue
        if flags & 0x7F == kind:
            out.append(p)
        p += 1
    return out
