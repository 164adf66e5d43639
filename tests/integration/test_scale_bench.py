"""bench/scale_bench.py end to end on two tiny sizes: every metric present for every size, the
second run reuses the export and index it left. Never a timing assertion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SIZES = (3000, 6000)
CASES = {("verify_batch", 1), ("verify_batch", 2), ("lookup_batch", 1), ("lookup_batch", 2)}


def scale_bench(work: Path, *extra: str, sizes: tuple[int, ...] = SIZES) -> dict:
    out = work / "run.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale_bench", "--records", ",".join(map(str, sizes)),
         "--workdir", str(work), "--json", str(out), "--seconds-per-case", "0.2",
         "--max-calls", "50", "--keys", "2000", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "verify 1t best/s" in done.stdout and "build rows/s" in done.stdout
    return json.loads(out.read_text())


def test_every_metric_for_every_size_then_resumed(tmp_path):
    # no cold start here: dropping the page cache slows every process on the machine, and
    # python's own imports re-read from disk make the step too long for this test
    first = scale_bench(tmp_path, "--skip-cold")
    assert first["engine"]["core_sha256"] and first["machine"]["cpus"]
    assert [r["records_requested"] for r in first["results"]] == list(SIZES)
    for r in first["results"]:
        n = r["records_requested"]
        assert r["stored"] == n
        g = r["generate"]
        assert g["rows"] == n and g["rows_per_s"] > 0 and not g["cached"]
        b = r["build"]
        assert b["stored"] == n and b["rows_per_second"] > 0 and not b["cached"]
        assert b["process"]["exit"] == 0 and b["process"]["peak_rss_mib"] > 0
        by = r["bytes"]
        assert "data.mdb" in by["record_files"] and "keys.u64" not in by["record_files"]
        assert by["record_bytes"] == sum(by["files"][f] for f in by["record_files"]) > 0
        assert by["keys_bytes"] == by["files"]["keys.u64"] >= 8 * n   # a header, then keys
        assert by["bytes_per_record"] == round(by["record_bytes"] / n, 1)
        w = r["warm"]
        assert {(c["name"], c["threads"]) for c in w["cases"]} == CASES
        for c in w["cases"]:
            assert len(c["rounds"]) == 3
            assert c["best_per_s"] >= c["median_per_s"] > 0
        assert w["workload"]["hits"] < w["workload"]["keys"] == 2000
        assert w["memory"]["vm_hwm_mib"] >= w["memory"]["vm_rss_mib"] > 0
        assert w["process"]["peak_rss_mib"] > 0
        assert r["cold_start"] == {"skipped": "--skip-cold"}

    # a second run finds the export and index and measures only the warm cases
    again = scale_bench(tmp_path, "--skip-cold", "--repeat", "1", sizes=SIZES[:1])
    for before, after in zip(first["results"], again["results"]):
        assert after["generate"]["cached"] and after["build"]["cached"]
        assert after["generate"]["rows_per_s"] == before["generate"]["rows_per_s"]
        assert after["build"]["generation"] == before["build"]["generation"]
        assert all(len(c["rounds"]) == 1 for c in after["warm"]["cases"])
