"""write_delta: a change file against a base export, read once with bounded memory.

The base is streamed once. Two reservoirs (Algorithm R) keep a uniform sample: one of
`changes` rows for updates and removals, one of young children whose households get a
newborn. Memory is O(changes), whatever the base size. Newborn NIKs use serials
9000-9999, which a base export never uses (serials.BASE_MAX_SERIAL), so they cannot
collide with the base without checking it.
"""

from __future__ import annotations

import csv
import os
import random

from nikgate.engine import schema

from .changes import DeltaState, newborn, update
from .csvout import Target, csv_writer
from .people import HBKEL, HIDUP, IBU, TGL

SHARE_NEW = 0.30
SHARE_REMOVED = 0.05
YOUNG_SINCE = "2011-01-01"  # siblings of a newborn: children born since (mother young enough)


def _reservoir_rows(base: str | os.PathLike[str], k_all: int, k_young: int,
                    rng: random.Random) -> tuple[list[list[str]], list[list[str]]]:
    rnd = rng.random
    sample: list[list[str]] = []
    young: list[list[str]] = []
    seen = seen_young = 0
    with open(base, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise ValueError(
                f"{base}: empty file; expected a header with {schema.REQUIRED_COLUMNS}")
        missing = [c for c in schema.REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{base}: base export lacks columns {missing}")
        pick = [header.index(c) for c in schema.REQUIRED_COLUMNS]
        same = pick == list(range(len(schema.REQUIRED_COLUMNS))) and len(header) == len(pick)
        for raw in reader:
            row = raw if same else [raw[i] for i in pick]
            if seen < k_all:
                sample.append(row)
            else:
                j = int(rnd() * (seen + 1))
                if j < k_all:
                    sample[j] = row
            seen += 1
            if (row[HBKEL] in ("ANAK", "CUCU") and row[TGL] >= YOUNG_SINCE and row[IBU]
                    and row[HIDUP] == "HIDUP"):
                if seen_young < k_young:
                    young.append(row)
                else:
                    j = int(rnd() * (seen_young + 1))
                    if j < k_young:
                        young[j] = row
                seen_young += 1
    return sample, young


def write_delta(base: str | os.PathLike[str], out: Target, changes: int, seed: int) -> int:
    """Write a delta CSV of about `changes` rows against `base`; return the rows written.

    Columns: PERUBAHAN, then schema.REQUIRED_COLUMNS. About 30% BARU (newborns with new
    NIKs), 65% UBAH (full new state of a base record: move, death, card replacement,
    marriage) and 5% HAPUS (a base record removed, its last state given). Fewer rows are
    written only when the base is too small. Same base bytes and seed, same output.
    """
    if changes < 0:
        raise ValueError(f"changes must be >= 0, got {changes}")
    rng = random.Random(f"nikgate.synth.delta:{seed}")
    n_new = round(changes * SHARE_NEW)
    sample, young = _reservoir_rows(base, changes, n_new, rng)
    rng.shuffle(sample)
    n_new = min(n_new, len(young))
    rest = min(changes - n_new, len(sample))
    n_removed = min(rest, round(changes * SHARE_REMOVED))
    state = DeltaState(rng)
    BARU, UBAH, HAPUS = schema.DELTA_CHANGES
    out_rows = [[BARU] + newborn(state, r) for r in young[:n_new]]
    out_rows += [[HAPUS] + r for r in sample[:n_removed]]
    out_rows += [[UBAH] + update(state, r) for r in sample[n_removed:rest]]
    rng.shuffle(out_rows)
    with csv_writer(out) as w:
        w.writerow((schema.DELTA_CHANGE_COLUMN,) + schema.REQUIRED_COLUMNS)
        w.writerows(out_rows)
    return len(out_rows)
