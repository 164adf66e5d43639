"""write_export: a synthetic warehouse export, streamed district by district.

Memory stays constant in the row count: the only per-run state is one integer quota per
district (7,285 of them); the NIK/KK counters live for one district (see serials.py).
"""

from __future__ import annotations

import random

from nikgate.engine import schema

from . import geo
from .csvout import Target, csv_writer
from .people import DistrictGenerator

# Rows are assigned to districts in blocks: small files still get whole households in a
# few districts instead of one person in each of thousands.
BLOCK = 40
_DRAW_CHUNK = 65536


def district_quotas(records: int, seed: int) -> list[int]:
    """Rows per district (aligned with geo.district_codes()), summing to `records`.

    Blocks of BLOCK rows (the last one smaller) are drawn by population weight, in chunks
    so that a 50M-row run never holds more than _DRAW_CHUNK draws.
    """
    codes = geo.district_codes()
    weights = geo.district_table().cum
    rng = random.Random(f"nikgate.synth:{seed}:quotas")
    quotas = [0] * len(codes)
    blocks, last = divmod(records, BLOCK)
    remaining = blocks
    indices = range(len(codes))
    while remaining:
        k = min(remaining, _DRAW_CHUNK)
        for i in rng.choices(indices, cum_weights=weights, k=k):
            quotas[i] += BLOCK
        remaining -= k
    if last:
        quotas[rng.choices(indices, cum_weights=weights)[0]] += last
    return quotas


def write_export(out: Target, records: int, seed: int) -> int:
    """Write a synthetic warehouse export of `records` rows; return the rows written.

    The CSV has a header row and the columns schema.REQUIRED_COLUMNS in order. The same
    (records, seed) always gives the same bytes. Rows come grouped by the district that
    issued their NIKs (code order), household by household; they are not sorted by NIK.
    """
    if records < 0:
        raise ValueError(f"records must be >= 0, got {records}")
    written = 0
    with csv_writer(out) as w:
        w.writerow(schema.REQUIRED_COLUMNS)
        for code, quota in zip(geo.district_codes(), district_quotas(records, seed)):
            if not quota:
                continue
            gen = DistrictGenerator(code, seed)
            left = quota
            while left > 0:
                rows = gen.household()
                if len(rows) > left:
                    del rows[left:]  # the district's quota ends mid-household
                w.writerows(rows)
                left -= len(rows)
            written += quota
    return written
