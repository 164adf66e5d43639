"""Scale curve: one run over several index sizes (issue 16; docs/performance.md, "Scale curve").

    python -m bench.scale_bench --records 1000000,10000000,50000000 --workdir var/scale \\
        [--json var/scale/run.json] [--seconds-per-case 5] [--lookups 1000000] [--skip-cold]

For each size, in this order:

  export   the synthetic export (write_export, as `nikgate data generate`, one process per
           usable core), generated once and kept in the workdir with a note of how long it
           took; a later run reuses it and reports the generator figures of the run that made it
           (an export found without that note: not measured). --regenerate makes it again.
  build    the engine's build_index in a process of its own (bench/scale_steps.py), timed, its
           peak RSS from wait4; kept and reused while this nikgate opens it (same format and
           record layout) and it holds the export's rows; an index of an older format is
           rebuilt. --rebuild builds again anyway.
  bytes    each file of the published generation; bytes per record counts the sealed files
           (engine/generations.py SEALED_FILES) but keys.u64, which is given on its own.
  cold     bench/cold_start_bench.py in a process of its own: --lookups random single-NIK
           lookups after the page cache is dropped (time to the first 1k/10k/100k, rate),
           then `nikgate index warm` (timed), then the same lookups again. Needs root to
           drop the cache; without it (or with --skip-cold) the step is recorded as skipped.
  warm     verify_batch and lookup_batch on 1 and 2 threads in a fresh process
           (bench/scale_steps.py measure: engine_bench's workload, cases and rounds), best and
           median of --repeat rounds, and that process's peak RSS (VmHWM).

Every step is bounded: the cases by --seconds-per-case and --max-calls, the cold phases by
--cold-seconds, and each child process by --step-timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.engine_bench import engine_state, log
from bench.machine import describe, machine
from nikgate.engine import NikIndex
from nikgate.engine.generations import SEALED_FILES
from nikgate.engine.keyset import KEYS_FILE
from nikgate.engine.layout import current_generation
from nikgate.errors import NikgateError

ROOT = Path(__file__).resolve().parent.parent


# -- child processes --------------------------------------------------------------------------


def run_child(cmd: list[str], timeout: float) -> dict[str, Any]:
    """Run `cmd` to its end (killed after `timeout` s); its exit code, seconds and peak RSS.

    wait4 gives this child's own ru_maxrss (with its waited-for children's), unlike
    RUSAGE_CHILDREN, which keeps the largest of every child this process ever had."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
    timer = threading.Timer(timeout, lambda: os.kill(p.pid, signal.SIGKILL))
    timer.start()
    try:
        _, status, usage = os.wait4(p.pid, 0)
    finally:
        timer.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)
    return {"exit": p.returncode, "seconds": round(time.perf_counter() - t0, 2),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}  # KiB on Linux


def step(*argv: str) -> list[str]:
    """This Python running a bench module."""
    return [sys.executable, "-m", *argv]


# -- export -----------------------------------------------------------------------------------


def ensure_export(workdir: Path, records: int, seed: int,
                  regenerate: bool = False) -> tuple[Path, dict[str, Any]]:
    """The export for (records, seed) and how long generating it took (when this bench made it)."""
    from nikgate.progress import terminal_progress
    from nikgate.synth import write_export
    from nikgate.synth.export import default_workers

    path = workdir / f"export-{records}-seed{seed}.csv"
    note = path.with_suffix(".generated.json")
    if path.exists() and not regenerate:
        made = json.loads(note.read_text()) if note.exists() else {}
        if made.get("bytes") == path.stat().st_size:
            log(f"export cached: {path} (generated {made['generated_at']})")
            return path, made | {"cached": True}
        if not made:
            log(f"export {path} found without a note of its generation: generator not "
                "measured (--regenerate measures it)")
            return path, {"rows": None, "rows_per_s": None, "cached": True,
                          "bytes": path.stat().st_size}
    workers = default_workers(records)
    partial = path.with_suffix(".csv.partial")
    log(f"generating {records:,} records -> {path} ({workers} processes)")
    t0 = time.perf_counter()
    with terminal_progress("generating", records) as progress:
        rows = write_export(partial, records, seed, workers=workers, progress=progress)
    secs = time.perf_counter() - t0
    os.replace(partial, path)
    made = {"rows": rows, "seconds": round(secs, 2), "rows_per_s": round(rows / secs),
            "workers": workers, "bytes": path.stat().st_size,
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "git_head": engine_state()["git_head"]}
    note.write_text(json.dumps(made, indent=1) + "\n")
    log(f"generated {rows:,} rows in {secs:.1f} s ({made['rows_per_s']:,} rows/s)")
    return path, made | {"cached": False}


# -- index ------------------------------------------------------------------------------------


def reusable(index: Path, note: Path, rows: int) -> str | None:
    """Why the index at `index` cannot be reused (None: it can)."""
    if not (index / "current").exists():
        return "no index yet"
    if not note.exists():
        return "no note of its build"
    try:
        with NikIndex.open(index) as idx:
            source_rows = idx.manifest.get("source_rows")
            generation = idx.generation.name
    except NikgateError as e:   # e.g. IndexFormatError: built by an older format
        return f"not readable by this nikgate ({e})"
    if source_rows != rows:
        return f"built from {source_rows} rows, the export has {rows}"
    if json.loads(note.read_text()).get("generation") != generation:
        return "its note describes another generation"
    return None


def ensure_index(args: argparse.Namespace, workdir: Path, export: Path, records: int,
                 rows: int | None) -> tuple[Path, dict[str, Any]]:
    index = workdir / f"index-{records}-seed{args.seed}"
    note = workdir / f"index-{records}-seed{args.seed}.build.json"
    why = ("--rebuild" if args.rebuild or args.regenerate
           else reusable(index, note, rows or records))
    if why is None:
        log(f"reusing index {index} (built and measured {json.loads(note.read_text())['at']})")
        return index, json.loads(note.read_text()) | {"cached": True}
    log(f"building index {index}: {why}")
    shutil.rmtree(index, ignore_errors=True)
    out = workdir / f"build-{records}.json"
    proc = run_child(step("bench.scale_steps", "build", str(export), str(index),
                          "--json", str(out)), args.step_timeout)
    if proc["exit"] != 0:
        raise SystemExit(f"index build for {records:,} records failed (exit {proc['exit']})")
    built = json.loads(out.read_text()) | {"process": proc,
                                            "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                            "engine": engine_state()}
    note.write_text(json.dumps(built, indent=1) + "\n")
    return index, built | {"cached": False}


def record_count(index: Path) -> int:
    """Records in the index. In a function of its own: the index's key file stays mapped
    until the last reference to it goes, and a mapped page would survive the cold step's
    drop of the page cache."""
    with NikIndex.open(index) as idx:
        return idx.record_count


def file_bytes(index: Path, stored: int) -> dict[str, Any]:
    """Each file of the generation, and bytes per record of the sealed ones."""
    gen = current_generation(index)
    files = {p.name: p.stat().st_size for p in sorted(gen.iterdir()) if p.is_file()}
    record_files = [n for n in SEALED_FILES if n != KEYS_FILE and n in files]
    records = sum(files[n] for n in record_files)
    keys = files.get(KEYS_FILE, 0)
    return {"files": files, "record_files": record_files,
            "record_bytes": records, "bytes_per_record": round(records / stored, 1),
            "keys_bytes": keys, "keys_bytes_per_record": round(keys / stored, 1),
            "sealed_bytes_per_record": round((records + keys) / stored, 1)}


# -- cold start -------------------------------------------------------------------------------


def cold_start(args: argparse.Namespace, workdir: Path, index: Path,
               records: int) -> dict[str, Any]:
    if args.skip_cold:
        return {"skipped": "--skip-cold"}
    if os.geteuid() != 0:
        return {"skipped": "not root: the page cache cannot be dropped"}
    out = workdir / f"cold-{records}.json"
    out.unlink(missing_ok=True)
    proc = run_child(step("bench.cold_start_bench", "--index", str(index), "--lookups",
                          str(args.lookups), "--seconds", str(args.cold_seconds),
                          "--seed", str(args.seed), "--json", str(out)), args.step_timeout)
    if proc["exit"] != 0 or not out.exists():
        return {"skipped": f"cold_start_bench exited {proc['exit']}", "process": proc}
    r = json.loads(out.read_text())
    return {"process": proc, "cold": r["cold"], "warm_command": r["warm_command"],
            "warmed": r["warmed"], "hot": r["hot"]}


# -- one size ---------------------------------------------------------------------------------


def bench_size(args: argparse.Namespace, records: int) -> dict[str, Any]:
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"records_requested": records, "seed": args.seed}
    export, result["generate"] = ensure_export(workdir, records, args.seed,
                                                       args.regenerate)
    index, result["build"] = ensure_index(args, workdir, export, records,
                                          result["generate"].get("rows"))
    stored = record_count(index)
    result["stored"] = stored
    result["bytes"] = file_bytes(index, stored)
    result["cold_start"] = cold_start(args, workdir, index, records)
    out = workdir / f"measure-{records}.json"
    out.unlink(missing_ok=True)
    proc = run_child(step("bench.scale_steps", "measure", str(index), "--json", str(out),
                          "--seconds-per-case", str(args.seconds_per_case),
                          "--repeat", str(args.repeat), "--keys", str(args.keys),
                          "--batch", str(args.batch), "--max-calls", str(args.max_calls),
                          "--seed", str(args.seed)), args.step_timeout)
    if proc["exit"] != 0:
        raise SystemExit(f"measuring {records:,} records failed (exit {proc['exit']})")
    result["warm"] = json.loads(out.read_text()) | {"process": proc}
    return result


# -- report -----------------------------------------------------------------------------------


def _case(r: dict[str, Any], name: str, threads: int) -> dict[str, Any]:
    return next(c for c in r["warm"]["cases"] if c["name"] == name and c["threads"] == threads)


def rows(r: dict[str, Any]) -> list[tuple[str, Any]]:
    """(metric, value) for one size, in table order; None where not measured."""
    g, b, cs = r["generate"], r["build"], r["cold_start"]
    cold = cs.get("cold", {})
    out: list[tuple[str, Any]] = [
        ("records stored", r["stored"]),
        ("generator rows/s" + (" *" if g.get("cached") else ""), g.get("rows_per_s")),
        ("build rows/s" + (" *" if b.get("cached") else ""), b.get("rows_per_second")),
        ("build s", b.get("seconds")),
        ("build peak RSS MiB", b.get("process", {}).get("peak_rss_mib")),
        ("bytes/record (records)", r["bytes"]["bytes_per_record"]),
        ("bytes/record keys.u64", r["bytes"]["keys_bytes_per_record"]),
        ("index GiB (sealed files)",
         round((r["bytes"]["record_bytes"] + r["bytes"]["keys_bytes"]) / 2**30, 2)),
        ("cold: first 1k lookups s", cold.get("first_1000_s")),
        ("cold: first 10k s", cold.get("first_10000_s")),
        ("cold: first 100k s", cold.get("first_100000_s")),
        ("cold: lookups done", cold.get("lookups")),
        ("cold: seconds", cold.get("seconds")),
        ("cold: lookups/s", cold.get("per_second")),
        ("index warm s", cs.get("warm_command", {}).get("seconds")),
        ("after warm: lookups/s", cs.get("warmed", {}).get("per_second")),
    ]
    for name, short in (("verify_batch", "verify"), ("lookup_batch", "lookup")):
        for t in (1, 2):
            c = _case(r, name, t)
            out.append((f"{short} {t}t best/s", c["best_per_s"]))
            out.append((f"{short} {t}t median/s", c["median_per_s"]))
    mem = r["warm"]["memory"]
    out += [("measuring VmHWM MiB", mem.get("vm_hwm_mib")),
            ("measuring RssAnon MiB", mem.get("rss_anon_mib"))]
    return out


def print_report(mach: dict[str, Any], eng: dict[str, Any], results: list[dict[str, Any]]) -> None:
    print(f"\nmachine: {describe(mach)}")
    print(f"engine: git {eng['git_head']}"
          + (" + uncommitted engine changes" if eng["uncommitted_engine_files"] else "")
          + f", _core sha256 {eng['core_sha256']}")
    table = [rows(r) for r in results]
    width = max(len(m) for m, _ in table[0]) + 2
    print(f"{'':<{width}}" + "".join(f"{r['stored']:>14,}" for r in results))
    for i, (metric, _) in enumerate(table[0]):
        cells = []
        for t in table:
            v = t[i][1]
            cells.append(f"{'-' if v is None else f'{v:,}':>14}")
        print(f"{metric:<{width}}" + "".join(cells))
    for r in results:
        if "skipped" in r["cold_start"]:
            print(f"cold start at {r['stored']:,}: skipped ({r['cold_start']['skipped']})")
    print("* reused from an earlier run (export or index cached in the workdir): the figure is "
          "that run's")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scale_bench",
                                description=(__doc__ or "").split("\n")[0])
    p.add_argument("--records", default="1000000,10000000,50000000",
                   help="comma-separated index sizes")
    p.add_argument("--workdir", default="var/scale")
    p.add_argument("--json", help="write the results as JSON to this file")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--seconds-per-case", type=float, default=5.0)
    p.add_argument("--repeat", type=int, default=3, help="rounds of the warm cases")
    p.add_argument("--max-calls", type=int, default=20_000, help="per case, across threads")
    p.add_argument("--keys", type=int, default=1_000_000, help="random keys of the warm cases")
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--lookups", type=int, default=1_000_000,
                   help="single lookups in each cold-start phase")
    p.add_argument("--cold-seconds", type=float, default=300.0, help="bound on each cold phase")
    p.add_argument("--skip-cold", action="store_true", help="no cold-start step")
    p.add_argument("--regenerate", action="store_true",
                   help="generate every export again (and so build every index again)")
    p.add_argument("--rebuild", action="store_true", help="build every index again")
    p.add_argument("--step-timeout", type=float, default=3 * 3600.0,
                   help="seconds after which a child step is killed")
    args = p.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.records.split(",") if s.strip()]
    if not sizes or min(sizes) < args.batch:
        p.error(f"--records: sizes of at least --batch ({args.batch}) records, comma-separated")
    mach, eng = machine(), engine_state()
    results = []
    for n in sizes:
        log(f"== {n:,} records ==")
        results.append(bench_size(args, n))
        if args.json:   # after every size: a long run that stops keeps what it measured
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(
                {"bench": "scale", "machine": mach, "engine": eng, "argv": sys.argv,
                 "results": results}, indent=2) + "\n")
    print_report(mach, eng, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
