"""The index: it opens, its generation and record count, and a bounded sample of
`nikgate index verify`'s checks (engine/integrity.py `quick_verify_env`)."""

from __future__ import annotations

from pathlib import Path

from nikgate.errors import IndexMissingError, NikgateError

from .result import Check, fail, ok

FIX = ("run `nikgate index verify --index DIR` for the full check; rebuild with `nikgate "
       "index build` or restore a copy")


def check(path: Path) -> Check:
    from nikgate.engine import NikIndex

    try:
        idx = NikIndex.open(path)
    except IndexMissingError as e:
        return fail("index", str(e), "build one with `nikgate index build` or fix [index] "
                    "path")
    except NikgateError as e:   # damaged or of another format: the message says what to do
        return fail("index", str(e), "")
    with idx:
        report = idx.quick_check()
    what = (f"generation {report.generation}, {report.entries:,} records; "
            + ("every record" if report.complete else f"{report.records_walked:,} sampled "
               "records") + f" checked in {report.seconds:.2f} s")
    if not report.ok:
        return fail("index", f"DAMAGED ({what}): " + "; ".join(
            p.message.split(";")[0] for p in report.problems), FIX)
    return ok("index", what)
