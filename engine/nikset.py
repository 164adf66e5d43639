"""NikSet: NIKs seen, as u64 in the compiled core's open-addressing table.

    seen = NikSet(limit=2_000_000)
    new = seen.add_found(niks, item_statuses)   # packed native u64 of NIKs not seen yet

Only items whose status is FOUND (1) count; past `limit` NIKs the set forgets everything
and starts again, so use it as a cache in front of something that dedupes for good.


nik_blocks(niks) packs NIKs as 16-byte blocks for the audit log's keyed references.
"""

from ._core import NikSet, nik_blocks

__all__ = ["NikSet", "nik_blocks"]
