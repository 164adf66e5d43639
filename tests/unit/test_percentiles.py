"""The one nearest-rank percentile the benches share, and the bench summary built on it."""

from __future__ import annotations

import pytest

from bench.service_bench import _percentiles
from nikgate.loadgen.percentiles import nearest_rank


def test_nearest_rank_is_the_smallest_value_covering_p_percent():
    v = list(range(1, 101))                      # 1..100
    assert nearest_rank(v, 50) == 50
    assert nearest_rank(v, 90) == 90
    assert nearest_rank(v, 99) == 99             # not 100: float noise must not add a rank
    assert nearest_rank(v, 100) == 100
    assert nearest_rank(v, 0) == 1
    w = list(range(1, 1001))
    assert nearest_rank(w, 99.9) == 999
    assert nearest_rank([7.0], 99.9) == 7.0


def test_an_exact_odd_rank_is_not_rounded_up():
    # The bench's old formula, round(q * n + 0.5), rounded 51.5 to 52 (to even) here.
    assert nearest_rank(list(range(1, 101)), 51) == 51


def test_no_samples_is_an_error_not_a_number():
    with pytest.raises(ValueError, match="at least one"):
        nearest_rank([], 50)


def test_bench_summary_keeps_its_keys_and_units():
    ns = [i * 1_000_000 for i in range(1, 1001)]   # 1..1000 ms in nanoseconds
    s = _percentiles(ns)
    assert set(s) == {"p50", "p90", "p99", "p999", "max", "mean"}
    assert (s["p50"], s["p90"], s["p99"], s["p999"], s["max"]) == (500, 900, 990, 999, 1000)
    assert s["mean"] == pytest.approx(500.5)
    assert _percentiles([]) == dict.fromkeys(s)
