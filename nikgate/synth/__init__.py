"""Synthetic data-warehouse exports and deltas for tests and benchmarks (no real people).

    from nikgate.synth import write_export, write_delta
    n = write_export("base.csv", records=1_000_000, seed=1)
    m = write_delta("base.csv", "delta.csv", changes=10_000, seed=2)

Modules: export (the base CSV, district by district), people (households and persons),
fields (values of fields added after the household model: one generator per field),
names / address / attrs / culture (value pools and distributions), geo (region codes and
weights), serials (bounded NIK/KK allocation), delta + changes (the change file),
render (a chunk of districts as CSV text), dates / pick / csvout (helpers); _compiled holds
the Cython twins of the per-row modules. See docs/synthetic-data.md.
"""

from __future__ import annotations

from .delta import write_delta
from .export import write_export

__all__ = ["write_delta", "write_export"]
