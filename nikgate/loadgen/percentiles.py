"""Nearest-rank percentiles of kept samples: the one definition every bench uses.

Runs that keep every sample (the service and return-data benches, the compare-mode peers)
use this; the load generator streams into an HdrHistogram instead (histogram.py), whose
percentiles agree with these to its 3 significant digits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def nearest_rank(sorted_values: Sequence[float], p: float) -> float:
    """The value at percentile `p` (0-100) of ascending, non-empty `sorted_values`: the
    smallest sample with at least p% of the samples at or below it."""
    n = len(sorted_values)
    if not n:
        raise ValueError("no samples: a percentile needs at least one value")
    # round() first so float noise (99.9 * 1000 / 100 = 999.0000000000001) cannot push
    # an exact rank up by one.
    rank = math.ceil(round(p * n / 100, 9))
    return sorted_values[min(n, max(1, rank)) - 1]
