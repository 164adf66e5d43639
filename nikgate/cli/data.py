"""`nikgate data ...`: synthetic warehouse exports and deltas."""

from __future__ import annotations

import sys
import time


def register(sub) -> None:
    p = sub.add_parser("data", help="generate synthetic warehouse data")
    s = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    g = s.add_parser("generate", help="write a synthetic warehouse export (CSV)")
    g.add_argument("--records", type=int, required=True, help="number of rows")
    g.add_argument("--seed", type=int, default=1, help="random seed (same seed, same file)")
    g.add_argument("--out", required=True, help="output CSV path, or - for stdout")
    g.set_defaults(func=_generate)
    d = s.add_parser("delta", help="write a synthetic delta (changes) against an export")
    d.add_argument("--from", dest="base", required=True, help="the base export CSV")
    d.add_argument("--changes", type=int, required=True, help="number of changed rows")
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--out", required=True)
    d.set_defaults(func=_delta)


def _generate(args) -> int:
    from nikgate.synth import write_export

    if args.records < 0:
        from nikgate.errors import InvalidInputError

        raise InvalidInputError("--records must be >= 0")
    started = time.perf_counter()
    out = sys.stdout if args.out == "-" else args.out
    n = write_export(out, args.records, args.seed)
    took = time.perf_counter() - started
    print(f"wrote {n} records to {args.out} in {took:.1f} s ({n / max(took, 1e-9):,.0f} rows/s)",
          file=sys.stderr)
    return 0


def _delta(args) -> int:
    from nikgate.synth import write_delta

    started = time.perf_counter()
    n = write_delta(args.base, args.out, args.changes, args.seed)
    print(f"wrote {n} changes to {args.out} in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)
    return 0
