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
    g.add_argument("--workers", type=int, default=None,
                   help="processes generating (default: one per core above 60k rows); "
                        "the file is the same whatever the number")
    g.add_argument("--quiet", action="store_true",
                   help="no progress line and no summary (progress shows on a terminal only)")
    g.set_defaults(func=_generate)
    d = s.add_parser("delta", help="write a synthetic delta (changes) against an export")
    d.add_argument("--from", dest="base", required=True, help="the base export CSV")
    d.add_argument("--changes", type=int, required=True, help="number of changed rows")
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--out", required=True)
    d.set_defaults(func=_delta)


def _generate(args) -> int:
    from nikgate.errors import InvalidInputError
    from nikgate.progress import terminal_progress
    from nikgate.synth import write_export

    if args.records < 0:
        raise InvalidInputError("--records must be >= 0")
    if args.workers is not None and args.workers < 1:
        raise InvalidInputError(f"--workers must be >= 1, got {args.workers}")
    started = time.perf_counter()
    out = sys.stdout if args.out == "-" else args.out
    with terminal_progress("generating", args.records, quiet=args.quiet) as progress:
        n = write_export(out, args.records, args.seed, workers=args.workers,
                         progress=progress)
    took = time.perf_counter() - started
    if args.quiet:
        return 0
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
