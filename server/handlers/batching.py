"""Shared input checks and helpers for columnar batch requests.

The access-rights checks a call goes through are server/access/checks.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from nikgate.errors import InvalidInputError

T = TypeVar("T")

# Batches above this many items run in a worker thread (the engine releases the GIL), so
# one large batch does not hold up small calls on the same event loop.
INLINE_ITEMS = 2000


def batch_niks(niks, nik_numbers, max_items: int) -> list:
    """The batch's NIKs (str or int), checked for count and form."""
    if niks and nik_numbers:
        raise InvalidInputError("send NIKs in `niks` or in `nik_numbers`, not both",
                                field="niks")
    items = list(niks) if niks else list(nik_numbers)
    if not items:
        raise InvalidInputError(f"empty batch: send 1 to {max_items:,} NIKs", field="niks")
    if len(items) > max_items:
        raise InvalidInputError(
            f"batch has {len(items):,} items; at most {max_items:,} per message: split it "
            "(VerifyStream takes any number of messages)", field="niks")
    return items


def check_item_ids(item_ids, n: int) -> list[int]:
    ids = list(item_ids)
    if ids and len(ids) != n:
        raise InvalidInputError(f"item_ids has {len(ids)} entries for {n} items; send one per "
                                "item or none", field="item_ids")
    return ids


async def run_batch(n: int, fn: Callable[[], T]) -> T:
    if n <= INLINE_ITEMS:
        return fn()
    return await asyncio.get_running_loop().run_in_executor(None, fn)
