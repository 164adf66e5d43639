"""`nikgate demo`: the embedded default. First run makes demo data and builds the index;
later runs reuse them. Then it runs a sample verification and lookup."""

from __future__ import annotations

import random
import time
from pathlib import Path

from .output import table

DEFAULT_DIR = "var/demo"


def register(sub) -> None:
    p = sub.add_parser("demo", help="make demo data and an index, then verify a sample")
    p.add_argument("--dir", default=DEFAULT_DIR, help=f"working directory (default {DEFAULT_DIR})")
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=2026)
    p.set_defaults(func=_demo)


def _demo(args) -> int:
    from nikgate.engine import NikIndex
    from nikgate.engine.build import build_index
    from nikgate.synth import write_export

    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    export = root / f"warehouse-{args.records}-{args.seed}.csv"
    index_dir = root / "index"
    if not export.exists():
        print(f"generating {args.records:,} synthetic records -> {export}")
        t = time.perf_counter()
        tmp = export.with_suffix(".partial")
        write_export(tmp, args.records, args.seed)
        tmp.rename(export)
        print(f"  done in {time.perf_counter() - t:.1f} s")
    if not (index_dir / "current").exists():
        print(f"building the index -> {index_dir}")
        report = build_index(export, index_dir, rejects_path=root / "rejects.csv")
        s = report.summary()
        print(f"  stored {s['stored']:,} of {s['rows_read']:,} rows in {s['seconds']} s "
              f"({s['rows_per_second']:,} rows/s, {s['bytes_per_record']} bytes/record, "
              f"{s['rejected']} rejected)")
    with NikIndex.open(index_dir) as idx:
        print(f"index {idx.generation.name}: {idx.record_count:,} records")
        rng = random.Random(args.seed)
        niks = idx.sample_niks(1, start=rng.randrange(11 * 10**14, 95 * 10**14))
        if not niks:
            niks = idx.sample_niks(1)
        nik = niks[0]
        person = idx.lookup(nik, ["NAMA_LGKP", "TGL_LHR", "TMPT_LHR"])
        assert person is not None
        # A clerk's typing of the stored name: lower case, title dropped.
        claimed = person["NAMA_LGKP"].title()
        result = idx.verify(nik, {"NAMA_LGKP": claimed, "TGL_LHR": person["TGL_LHR"],
                                  "TMPT_LHR": "Kota " + person["TMPT_LHR"].title()})
        print(f"\nsample verification of NIK {nik} ({result.life_status}, card "
              f"{result.card_status}):")
        print(table([(r.field.name, r.outcome.name, str(r.score), str(r.threshold))
                     for r in result.fields], ("FIELD", "RESULT", "SCORE", "THRESHOLD")))
        print("\ntry it yourself:")
        print(f"  nikgate nik check {nik}")
        print(f"  nikgate verify --index {index_dir} --nik {nik} --name '{claimed}' "
              f"--birth-date {person['TGL_LHR']}")
    return 0
