"""The scraping guard flags enumeration, however it is dressed up, and leaves ordinary
traffic alone; its windows and throttle are shared by workers over the control store."""

import random
from types import SimpleNamespace

import pytest

from bench.scraping_fpr import (
    Population,
    bank,
    full_job,
    guesser,
    mixer,
    simulate,
    sorted_job,
    split_walker,
    telco,
)
from nikgate.server.access.scraping import ScrapingGuard
from nikgate.server.access.store import ControlStore

FOUND, NOT_FOUND, INVALID = 1, 2, 3
BASE = 3201010101010000


class Clock:
    def __init__(self):
        self.t = 1_800_000_000.0

    def __call__(self):
        return self.t


def _guard(clock, alerts, **kw):
    return ScrapingGuard(cooldown=60, throttled_rate=10, clock=clock,
                         alert=lambda inst, why: alerts.append((inst, why)), **kw)


def _random_niks(rng, n):
    return [str(rng.randrange(11 * 10**14, 96 * 10**14)) for _ in range(n)]


def test_mostly_misses_throttle_the_institution():
    clock, alerts = Clock(), []
    g = _guard(clock, alerts)
    for _ in range(3):
        g.observe("bank-x", [str(BASE + i * 97) for i in range(1000)],
                  bytes([NOT_FOUND] * 800 + [FOUND] * 200))
    assert alerts and alerts[0][0] == "bank-x" and "not found" in alerts[0][1]
    assert g.throttled("bank-x")
    assert g.admit("bank-x", 1000) > 0          # big batches wait out the cooldown
    assert g.admit("bank-x", 5) == 0             # a trickle is still served
    clock.t += 61
    assert not g.throttled("bank-x") and g.admit("bank-x", 1000) == 0


def test_serial_walking_is_flagged_even_when_found():
    clock, alerts = Clock(), []
    g = _guard(clock, alerts)
    for b in range(3):
        base = BASE + b * 1000
        g.observe("telco-y", [base + i for i in range(1000)], bytes([FOUND] * 1000))
    assert alerts and "serial walking" in alerts[0][1]


def test_ordinary_traffic_is_not_flagged():
    clock, alerts = Clock(), []
    g = _guard(clock, alerts)
    rng = random.Random(3)
    for _ in range(20):
        niks = [rng.randrange(11 * 10**14, 96 * 10**14) for _ in range(1000)]
        g.observe("bank-z", niks, bytes([FOUND] * 900 + [NOT_FOUND] * 100))
        clock.t += 1
    assert alerts == [] and not g.throttled("bank-z")
    assert g.admit("bank-z", 10_000) == 0


def test_half_real_niks_do_not_hide_guessing():
    """The probe's evasion: 50% real NIKs mixed in used to let 20,000 guesses through."""
    clock, alerts = Clock(), []
    g = _guard(clock, alerts)
    rng = random.Random(4)
    guesses = 0
    for _ in range(20):
        if g.admit("mixer", 1000) > 0:
            break
        statuses = [FOUND] * 500 + [NOT_FOUND] * 500
        rng.shuffle(statuses)
        g.observe("mixer", _random_niks(rng, 1000), bytes(statuses))
        guesses += 500
        clock.t += 1
    assert alerts and g.throttled("mixer")
    assert guesses <= 2000


def test_the_budget_bounds_guesses_below_the_share_threshold():
    """75% real: the share (25%) stays under max_miss_share, but the number of guesses per
    window is bounded by the grant: 20% of its rate, averaged over ~10 minutes."""
    clock, alerts = Clock(), []
    grant = SimpleNamespace(rate_per_second=100.0, daily_quota=0)
    g = _guard(clock, alerts, grants=lambda _i: grant)
    assert g.budgets("careful") == (12_000, 30_000)
    rng = random.Random(5)
    statuses = bytes([FOUND] * 75 + [NOT_FOUND] * 25)
    calls = 0
    for _ in range(3000):                         # one 100-item call per second
        if g.admit("careful", 100) > 0:
            break
        g.observe("careful", _random_niks(rng, 100), statuses)
        calls += 1
        ev = g.evidence("careful")
        if ev.items >= g.min_items:
            assert ev.misses / ev.items < g.max_miss_share
        clock.t += 1
    assert alerts and "budget" in alerts[0][1]
    assert 600 < calls < 1500                     # ~25,000 guesses, not unbounded


def test_invalid_niks_are_not_counted_as_guesses():
    clock, alerts = Clock(), []
    g = _guard(clock, alerts)
    rng = random.Random(6)
    for _ in range(10):
        g.observe("broken-client", _random_niks(rng, 1000), bytes([INVALID] * 1000))
    assert alerts == [] and g.evidence("broken-client").misses == 0


def test_a_walk_at_the_tail_of_the_batch_is_seen():
    """The old check read the first 64 items only."""
    clock, alerts = Clock(), []
    g = _guard(clock, alerts)
    rng = random.Random(7)
    for b in range(6):
        walk = [BASE + b * 10_000 + i for i in range(600)]
        g.observe("tail", _random_niks(rng, 400) + walk, bytes([FOUND] * 1000))
        clock.t += 1
    assert alerts and "serial walking" in alerts[0][1]


def test_a_shuffled_walk_interleaved_with_real_niks_is_seen():
    clock, alerts = Clock(), []
    g = _guard(clock, alerts)
    rng = random.Random(8)
    for b in range(6):
        items = _random_niks(rng, 400) + [BASE + b * 10_000 + i for i in range(600)]
        rng.shuffle(items)
        g.observe("shuffled", items, bytes([FOUND] * 1000))
        clock.t += 1
    assert alerts and "serial walking" in alerts[0][1]


def test_repeated_niks_are_not_a_walk():
    """A client retrying the same batch asks the same NIKs again: not neighbours."""
    clock, alerts = Clock(), []
    g = _guard(clock, alerts)
    batch = _random_niks(random.Random(9), 1000)
    for _ in range(10):
        g.observe("retrier", batch, bytes([FOUND] * 1000))
    assert alerts == [] and g.evidence("retrier").near == 0


def test_windows_and_throttle_are_shared_by_workers(tmp_path):
    """Two guards over one control store, as two worker processes: evidence from both adds
    up, a throttle set by one holds in the other, and they share one throttled bucket."""
    store = ControlStore(tmp_path / "control")
    try:
        clock, alerts = Clock(), []
        a, b = _guard(clock, alerts, store=store), _guard(clock, alerts, store=store)
        statuses = bytes([NOT_FOUND] * 700 + [FOUND] * 300)
        a.observe("split", [str(BASE + i * 97) for i in range(1000)], statuses)
        b.observe("split", [str(BASE + i * 89) for i in range(1000)], statuses)
        assert b.evidence("split").items == pytest.approx(2000)
        assert len(alerts) == 1                      # one alert, from the worker that set it
        assert a.throttled("split") and b.throttled("split")
        assert b.admit("split", 1000) > 0
        assert a.admit("split", 6) == 0              # 10 tokens, shared
        assert b.admit("split", 6) > 0
        assert b.admit("split", 4) == 0
        a.reset("split")                             # an operator lifts it for all
        assert not b.throttled("split") and b.admit("split", 1000) == 0
        assert b.evidence("split").items == 0
    finally:
        store.close()


def test_a_walk_split_across_calls_and_workers_is_seen(tmp_path):
    """Call k asks serial k of 1000 district+date prefixes, calls alternating between two
    workers: no call holds two neighbours and each worker sees every other serial."""
    store = ControlStore(tmp_path / "control")
    try:
        clock, alerts = Clock(), []
        workers = [_guard(clock, alerts, store=store) for _ in range(2)]
        rng = random.Random(10)
        prefixes = [rng.randrange(32010101010, 95000000000) * 10**4 for _ in range(1000)]
        for serial in range(1, 21):
            workers[serial % 2].observe("walker", [p + serial for p in prefixes],
                                        bytes([FOUND] * 1000))
            clock.t += 1
            if alerts:
                break
        # each call samples 256 of its items, so the workers' memories overlap slowly
        assert alerts and "serial walking" in alerts[0][1] and serial <= 12
        assert all(w.throttled("walker") for w in workers)
    finally:
        store.close()


# -- the traffic shapes of bench/scraping_fpr.py, over the session's synthetic index and a
#    population at Indonesia's density ------------------------------------------------------

@pytest.fixture(scope="module")
def dense():
    return Population.dense(districts=1)


@pytest.mark.parametrize("shape,rate", [(bank, 1000.0), (telco, 200.0), (sorted_job, 1000.0),
                                        (full_job, 1000.0)])
def test_normal_shapes_are_not_throttled(shape, rate, index, dense, tmp_path):
    for pop in (Population.of_index(index), dense):
        out = simulate(shape.__name__, shape, pop, rate, seconds=300, seed=1,
                       store_dir=str(tmp_path / "control"), stop_when_throttled=False)
        assert out.throttled_after_items is None, out
        assert out.peak_miss_share < 0.15 and out.peak_near_share < 0.32, out
        assert out.peak_miss_budget_use < 0.6 and out.peak_near_budget_use < 0.6, out


@pytest.mark.parametrize("shape", [guesser, mixer, split_walker])
def test_enumerators_are_stopped_within_a_few_calls(shape, dense, tmp_path):
    out = simulate(shape.__name__, shape, dense, 1000.0, seconds=60, seed=2,
                   store_dir=str(tmp_path / "control"))
    assert out.throttled_after_items is not None and out.throttled_after_items <= 4000, out
