"""Scraping guard simulation: false positives on normal traffic, detection of enumerators.

    python -m bench.scraping_fpr [--index DIR | --records 300000] [--minutes 30] [--seeds 3]
        [--workers 2] [--json out.json] [--cost]

Traffic shapes run against a real index (statuses come from the engine's lookup), through
`--workers` ScrapingGuard instances sharing one ControlStore (as worker processes do),
calls alternating between them, on a simulated clock at the grant's full rate (the worst
case for the budgets). Normal shapes run for --minutes per seed: a run is a false positive
when the institution is throttled at all; the peak short-window shares and long-window
budget use show the margin. Attackers run until throttled (or --minutes): the items and
the misses (guesses) they got through first are the detection figures.

--cost times admit+observe per 1000-item call in process (str and int NIKs, control store
on a temp dir) for this guard and, with --old FILE, for an older scraping.py, e.g.
`git show 8a1c0d2^:server/access/scraping.py > /tmp/old_scraping.py`.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace

from nikgate.server.access.scraping import ScrapingGuard
from nikgate.server.access.store import ControlStore

Batch = list[str]
Shape = Callable[["Population", random.Random], Iterator[Batch]]


@dataclass
class Population:
    """The NIKs that exist (sorted strings) and how the engine answers a batch."""

    niks: list[str]
    status: Callable[[Batch], bytes]

    @classmethod
    def of_index(cls, index) -> Population:
        niks = index.sample_niks(index.record_count)
        return cls(niks, lambda batch: index.lookup_batch(batch, ["NAMA_LGKP"]).status)

    @classmethod
    def dense(cls, districts: int = 4, per_key: float = 0.65, seed: int = 1) -> Population:
        """Every resident of a few real districts at Indonesia's density: ~38,000 per
        district, so each district + birth date + sex holds Poisson(0.65) people with
        serials 0001, 0002, ... (the synthetic export spreads its rows over all 7,285
        districts and so almost never gives two people one prefix). Statuses: FOUND when
        present, INVALID_NIK when the compiled check refuses it, else NOT_FOUND."""
        import datetime as dt
        import math

        from nikgate.engine import check_nik
        from nikgate.errors import InvalidNikError
        from nikgate.regions import load_regions

        rng = random.Random(f"dense:{seed}")
        codes = sorted(load_regions().districts)
        niks: list[str] = []
        day0 = dt.date(1945, 1, 1).toordinal()
        limit = math.exp(-per_key)
        for district in rng.sample(codes, districts):
            for ordinal in range(day0, dt.date(2007, 12, 31).toordinal()):
                d = dt.date.fromordinal(ordinal)
                for sex in (0, 40):
                    k, p = 0, rng.random()         # Poisson(per_key) by multiplication
                    while p > limit:
                        k += 1
                        p *= rng.random()
                    for serial in range(1, k + 1):
                        niks.append(f"{district:06d}{d.day + sex:02d}{d.month:02d}"
                                    f"{d.year % 100:02d}{serial:04d}")
        niks.sort()
        present = set(niks)

        def status(batch: Batch) -> bytes:
            out = bytearray(len(batch))
            for i, nik in enumerate(batch):
                if nik in present:
                    out[i] = 1
                else:
                    try:
                        check_nik(nik)
                        out[i] = 2
                    except InvalidNikError:
                        out[i] = 3
            return bytes(out)
        return cls(niks, status)


# -- traffic shapes: each yields batches of NIK strings forever ------------------------------

def _typo(nik: str, rng: random.Random) -> str:
    """A keying error: one digit replaced (60%) or two neighbours swapped (40%)."""
    i = rng.randrange(15)
    if rng.random() < 0.6:
        return nik[:i] + str((int(nik[i]) + rng.randrange(1, 10)) % 10) + nik[i + 1:]
    return nik[:i] + nik[i + 1] + nik[i] + nik[i + 2:]


def _guess(pop: Population, rng: random.Random) -> str:
    """A valid-looking guess: a real district, a random birth date (women +40), a low
    serial: what an enumerator who knows the NIK structure sends."""
    district = rng.choice(pop.niks)[:6]
    day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.randint(50, 105) % 100
    if rng.random() < 0.5:
        day += 40
    return f"{district}{day:02d}{month:02d}{year:02d}{rng.randint(1, 3):04d}"


def bank(pop, rng, batch=1000, typos=0.03) -> Iterator[Batch]:
    """KYC checks of random customers, ~3% mistyped."""
    customers = rng.sample(pop.niks, max(1, len(pop.niks) // 3))
    while True:
        yield [_typo(n, rng) if rng.random() < typos else n
               for n in rng.choices(customers, k=batch)]


def telco(pop, rng, batch=50, typos=0.14) -> Iterator[Batch]:
    """SIM registration: what subscribers typed, ~14% mistyped, small batches."""
    return bank(pop, rng, batch, typos)


def sorted_job(pop, rng, batch=1000, share=0.3) -> Iterator[Batch]:
    """A nightly re-verification of a customer list sorted by NIK (a third of everyone)."""
    customers = sorted(rng.sample(pop.niks, max(1, int(len(pop.niks) * share))))
    while True:
        for i in range(0, len(customers), batch):
            yield customers[i:i + batch]


def full_job(pop, rng, batch=1000) -> Iterator[Batch]:
    """Everyone, in NIK order (a regional government reconciling its residents): sorted
    real NIKs of one district and birth date differ by small serials."""
    return sorted_job(pop, rng, batch, share=1.0)


def guesser(pop, rng, batch=1000) -> Iterator[Batch]:
    while True:
        yield [_guess(pop, rng) for _ in range(batch)]


def mixer(pop, rng, batch=1000, real=0.5) -> Iterator[Batch]:
    """Guesses shuffled among real NIKs (from a leak) to dilute the miss share."""
    while True:
        yield [rng.choice(pop.niks) if rng.random() < real else _guess(pop, rng)
               for _ in range(batch)]


def _walk_items(pop, rng, serials) -> Iterator[str]:
    while True:
        prefix = rng.choice(pop.niks)[:12]
        for s in range(1, serials + 1):
            yield f"{prefix}{s:04d}"


def walker(pop, rng, batch=1000, serials=20, real=0.0, shuffle=False) -> Iterator[Batch]:
    """Serials 0001..`serials` of random district+birth-date prefixes, optionally shuffled
    within the batch and interleaved with a share of real NIKs."""
    walk = _walk_items(pop, rng, serials)
    while True:
        out = [rng.choice(pop.niks) if rng.random() < real else next(walk)
               for _ in range(batch)]
        if shuffle:
            rng.shuffle(out)
        yield out


def split_walker(pop, rng, batch=1000, serials=20) -> Iterator[Batch]:
    """A walk spread over calls: call k asks serial k of `batch` prefixes, so no call holds
    two neighbours (and calls alternate between workers)."""
    while True:
        prefixes = [n[:12] for n in rng.sample(pop.niks, batch)]
        for s in range(1, serials + 1):
            yield [f"{p}{s:04d}" for p in prefixes]


NORMAL: dict[str, tuple[Shape, float]] = {       # shape, grant rate (items/s)
    "bank (97% found)": (bank, 1000.0),
    "telco SIM registration (typos)": (telco, 200.0),
    "sorted customer list (1/3 of all)": (sorted_job, 1000.0),
    "everyone in NIK order": (full_job, 1000.0),
}
ATTACKS: dict[str, tuple[Shape, float]] = {
    "random guesses": (guesser, 1000.0),
    "50% real + 50% guesses": (lambda p, r: mixer(p, r, real=0.5), 1000.0),
    "70% real + 30% guesses": (lambda p, r: mixer(p, r, real=0.7), 1000.0),
    "80% real + 20% guesses": (lambda p, r: mixer(p, r, real=0.8), 1000.0),
    "serial walk": (walker, 1000.0),
    "serial walk, shuffled, 50% real": (lambda p, r: walker(p, r, real=0.5, shuffle=True),
                                        1000.0),
    "serial walk, 70% real": (lambda p, r: walker(p, r, real=0.7, shuffle=True), 1000.0),
    "walk split across calls+workers": (split_walker, 1000.0),
}


# -- the simulation ----------------------------------------------------------------------------

class SimClock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class Outcome:
    shape: str
    calls: int = 0
    items: int = 0
    misses: int = 0
    throttled_after_items: int | None = None
    throttled_after_misses: int | None = None
    seconds_to_throttle: float | None = None
    reason: str = ""
    peak_miss_share: float = 0.0       # short window, once min_items of evidence
    peak_near_share: float = 0.0
    peak_miss_budget_use: float = 0.0  # long-window misses / budget
    peak_near_budget_use: float = 0.0
    miss_kinds: dict = field(default_factory=dict)


def simulate(name: str, shape: Shape, pop: Population, grant_rate: float, seconds: float,
             seed: int, store_dir: str, workers: int = 2, stop_when_throttled: bool = True,
             **guard_args) -> Outcome:
    """Send `shape`'s batches at `grant_rate` items/s for `seconds` (simulated) through
    `workers` guards sharing one store; stop at the first throttle if asked."""
    rng = random.Random(seed)
    clock = SimClock()
    store = ControlStore.shared(store_dir)
    inst = f"{name}#{seed}"
    alerts: list[str] = []
    grant = SimpleNamespace(rate_per_second=grant_rate, daily_quota=0)
    guards = [ScrapingGuard(store=store, grants=lambda _i: grant, clock=clock,
                            alert=lambda _i, why: alerts.append(why), **guard_args)
              for _ in range(workers)]
    out = Outcome(name)
    miss_budget, near_budget = guards[0].budgets(inst)
    end = clock.t + seconds
    batches = shape(pop, rng)
    try:
        while clock.t < end:
            niks = next(batches)
            g = guards[out.calls % workers]
            if g.admit(inst, len(niks)) > 0:
                if stop_when_throttled:
                    break
                clock.t += len(niks) / grant_rate
                continue
            statuses = pop.status(niks)
            g.observe(inst, niks, statuses)
            out.calls += 1
            out.items += len(niks)
            misses = statuses.count(2)
            out.misses += misses
            for k in (2, 3):
                out.miss_kinds[k] = out.miss_kinds.get(k, 0) + statuses.count(k)
            ev = g.evidence(inst)
            if ev.items >= g.min_items:
                out.peak_miss_share = max(out.peak_miss_share, ev.misses / ev.items)
                out.peak_near_share = max(out.peak_near_share, ev.near / ev.items)
            out.peak_miss_budget_use = max(out.peak_miss_budget_use, ev.long_misses / miss_budget)
            out.peak_near_budget_use = max(out.peak_near_budget_use, ev.long_near / near_budget)
            if alerts and out.throttled_after_items is None:
                out.throttled_after_items, out.throttled_after_misses = out.items, out.misses
                out.seconds_to_throttle = seconds - (end - clock.t)
                out.reason = alerts[0]
            clock.t += len(niks) / grant_rate
    finally:
        store.release()
    out.miss_kinds = {"not_found": out.miss_kinds.get(2, 0), "invalid": out.miss_kinds.get(3, 0)}
    return out


def run_all(pop: Population, minutes: float, seeds: int, workers: int = 2,
            **guard_args) -> dict[str, list[Outcome]]:
    results: dict[str, list[Outcome]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, shapes in (("normal", NORMAL), ("attack", ATTACKS)):
            for name, (shape, rate) in shapes.items():
                results[name] = [
                    simulate(name, shape, pop, rate, minutes * 60, seed, f"{tmp}/control",
                             workers, stop_when_throttled=(kind == "attack"), **guard_args)
                    for seed in range(seeds)]
    return results


def report(results: dict[str, list[Outcome]], minutes: float) -> str:
    lines = [f"normal traffic, {minutes:g} simulated minutes per run at the grant's full rate",
             "| shape | runs throttled | miss share (peak) | near share (peak) | miss budget "
             "used (peak) | near budget used (peak) | misses: not found / invalid |",
             "|---|---|---|---|---|---|---|"]
    for name in NORMAL:
        runs = results[name]
        bad = sum(r.throttled_after_items is not None for r in runs)
        nf = sum(r.miss_kinds["not_found"] for r in runs)
        inv = sum(r.miss_kinds["invalid"] for r in runs)
        items = sum(r.items for r in runs)
        lines.append(f"| {name} | {bad}/{len(runs)} | "
                     f"{max(r.peak_miss_share for r in runs):.1%} | "
                     f"{max(r.peak_near_share for r in runs):.1%} | "
                     f"{max(r.peak_miss_budget_use for r in runs):.0%} | "
                     f"{max(r.peak_near_budget_use for r in runs):.0%} | "
                     f"{nf / items:.1%} / {inv / items:.1%} |")
    lines += ["", "attackers (median over runs; '-' = not throttled within the run)",
              "| shape | runs throttled | items through | guesses (misses) through | "
              "seconds | first reason |", "|---|---|---|---|---|---|"]
    for name in ATTACKS:
        runs = results[name]
        caught = [r for r in runs if r.throttled_after_items is not None]

        def med(xs):   # the upper median, as before; None when no run was throttled
            return statistics.median_high(xs) if xs else None
        items = med([r.throttled_after_items for r in caught])
        misses = med([r.throttled_after_misses for r in caught])
        secs = med([r.seconds_to_throttle for r in caught])
        lines.append(
            f"| {name} | {len(caught)}/{len(runs)} | "
            + (f"{items:,} | {misses:,} | {secs:,.0f} | {caught[0].reason.split(':')[0]} |"
               if caught else f"- ({runs[0].items:,} in the run) | - ({runs[0].misses:,}) "
                              "| - | - |"))
    return "\n".join(lines)


# -- per-call cost ---------------------------------------------------------------------------

def measure_cost(guard_factory: Callable[[], object], calls: int = 2000) -> dict[str, float]:
    """Microseconds per admit+observe of a 1000-item bank-like call, str and int NIKs."""
    rng = random.Random(5)
    batches = []
    for _ in range(100):
        ints = [rng.randrange(11 * 10**14, 96 * 10**14) for _ in range(1000)]
        batches.append(([f"{v:016d}" for v in ints], ints, bytes([1] * 970 + [2] * 30)))
    out = {}
    for label, col in (("str", 0), ("int", 1)):
        g = guard_factory()
        for b in batches[:10]:
            g.admit("bank", 1000)
            g.observe("bank", b[col], b[2])
        t0 = time.perf_counter()
        for i in range(calls):
            b = batches[i % len(batches)]
            g.admit("bank", 1000)
            g.observe("bank", b[col], b[2])
        out[label] = (time.perf_counter() - t0) / calls * 1e6
    g = guard_factory()
    t0 = time.perf_counter()
    for i in range(calls * 5):
        g.admit("app", 1)
        g.observe("app", (batches[i % 100][0][i % 1000],), b"\x01")
    out["unary"] = (time.perf_counter() - t0) / (calls * 5) * 1e6
    return out


def _cost(old: str | None) -> None:
    class Clock:                          # 1 s per call: well inside any budget
        t = 1_800_000_000.0

        def __call__(self):
            self.t += 0.5
            return self.t
    with tempfile.TemporaryDirectory() as tmp:
        store = ControlStore(f"{tmp}/control")
        for label, factory in (
                ("new, control store", lambda: ScrapingGuard(store=store, clock=Clock())),
                ("new, per process", lambda: ScrapingGuard(clock=Clock()))):
            print(label, {k: f"{v:.1f} us" for k, v in measure_cost(factory).items()})
        store.close()
    if old:
        import importlib.util
        spec = importlib.util.spec_from_file_location("old_scraping", old)
        mod = importlib.util.module_from_spec(spec)
        sys.modules["old_scraping"] = mod           # dataclasses look their module up
        spec.loader.exec_module(mod)
        print("old", {k: f"{v:.1f} us" for k, v in measure_cost(mod.ScrapingGuard).items()})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", help="an index directory (default: build one of --records)")
    ap.add_argument("--records", type=int, default=300_000)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json")
    ap.add_argument("--cost", action="store_true", help="time the per-call cost and exit")
    ap.add_argument("--old", help="an older scraping.py to time beside this one (--cost)")
    args = ap.parse_args(argv)
    if args.cost:
        _cost(args.old)
        return 0
    from nikgate.engine import NikIndex
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = args.index
        if index_dir is None:
            from nikgate.engine.build import build_index
            from nikgate.progress import terminal_progress
            from nikgate.synth import write_export
            with terminal_progress("generating", args.records) as progress:
                write_export(f"{tmp}/export.csv", args.records, seed=5, progress=progress)
            index_dir = f"{tmp}/idx"
            with terminal_progress("reading export", unit="bytes") as progress:
                build_index(Path(f"{tmp}/export.csv"), Path(index_dir),
                            rejects_path=Path(f"{tmp}/rejects.csv"), progress=progress)
        every: dict[str, dict] = {}
        with NikIndex.open(index_dir) as index:
            for label, pop in (("synthetic index", Population.of_index(index)),
                               ("dense districts", Population.dense())):
                t0 = time.perf_counter()
                results = run_all(pop, args.minutes, args.seeds, args.workers)
                print(f"\n## {label}: {len(pop.niks):,} records\n")
                print(report(results, args.minutes))
                print(f"({args.seeds} seeds, {args.workers} workers, "
                      f"{time.perf_counter() - t0:.0f} s)", file=sys.stderr)
                every[label] = {k: [asdict(r) for r in v] for k, v in results.items()}
    if args.json:
        Path(args.json).write_text(json.dumps(every, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
