"""pytest-benchmark micro-benchmarks of the engine over a 100k-record synthetic index.

Not part of the default test run (testpaths is tests/); run them by name:

    .venv/bin/python -m pytest bench/ --benchmark-only

No timing assertions: compare runs with pytest-benchmark's --benchmark-save/--compare.
The figures that matter at scale come from `python -m bench.engine_bench`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from nikgate.engine import NikIndex, TextKind, text_score
from nikgate.engine.build import build_index

RECORDS = 100_000
BATCH = 1000
FIELDS = ["NAMA_LGKP", "TGL_LHR"]


@dataclass
class Fixture:
    idx: NikIndex
    niks: list[str]                 # one batch: 90% stored, 10% absent, random order
    claims: dict[str, list[str]]    # NAMA_LGKP and TGL_LHR, the stored values
    raw: dict[int, bytes]           # the packed rows of all keys, for the dict baseline


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    from nikgate.synth import write_export

    root = tmp_path_factory.mktemp("engine-bench")
    export = root / "export.csv"
    write_export(export, RECORDS, 7)
    build_index(export, root / "index")
    idx = NikIndex.open(root / "index")
    stored = idx.sample_niks(RECORDS)
    rng = random.Random(7)
    niks = rng.sample(stored, BATCH - BATCH // 10)
    while len(niks) < BATCH:  # a stored NIK with another serial: valid-looking, absent
        base = int(rng.choice(stored))
        candidate = base - base % 10_000 + rng.randrange(1, 10_000)
        if idx.raw(candidate) is None:
            niks.append(f"{candidate:016d}")
    rng.shuffle(niks)
    looked = idx.lookup_batch(niks, FIELDS)
    fallback = next(i for i in range(BATCH) if looked.values[0][i] is not None)
    claims = {name: [v if v is not None else col[fallback] for v in col]
              for name, col in zip(FIELDS, looked.values)}
    raw = {int(n): idx.packed(int(n)) for n in stored}   # packed rows: fixed offsets
    yield Fixture(idx, niks, claims, raw)  # type: ignore[misc]
    idx.close()


def test_verify_batch_1000(benchmark, engine: Fixture) -> None:
    result = benchmark(engine.idx.verify_batch, engine.niks, engine.claims)
    assert len(result) == BATCH


def test_lookup_batch_1000(benchmark, engine: Fixture) -> None:
    result = benchmark(engine.idx.lookup_batch, engine.niks, FIELDS)
    assert len(result) == BATCH


def test_verify_single(benchmark, engine: Fixture) -> None:
    i = next(i for i, n in enumerate(engine.niks) if engine.idx.raw(int(n)) is not None)
    claim = {f: engine.claims[f][i] for f in FIELDS}
    result = benchmark(engine.idx.verify, engine.niks[i], claim)
    assert result.found


@pytest.mark.parametrize("stored,claimed", [
    ("MUHAMMAD RIZKI PRATAMA", "MOH. RIZKI PRATAMA"),
    ("HJ. SITI NURHALIZA, S.PD", "Siti Nurhaliza"),
])
def test_text_score_variant(benchmark, stored: str, claimed: str) -> None:
    score = benchmark(text_score, stored, claimed, TextKind.PERSON)
    assert 0 <= score <= 100


def test_dict_baseline_1000(benchmark, engine: Fixture) -> None:
    """The floor to compare verify_batch with: dict get + exact name compare, in Python."""
    keys = [int(n) for n in engine.niks]
    names = [n.encode() for n in engine.claims["NAMA_LGKP"]]
    get = engine.raw.get

    def verify() -> int:
        ok = 0
        for k, name in zip(keys, names):
            v = get(k)
            if v is not None and v[45:45 + v[44]] == name:
                ok += 1
        return ok

    assert benchmark(verify) > 0
