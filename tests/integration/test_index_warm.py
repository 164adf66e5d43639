"""`nikgate index warm`: reads the published generation's files once (issue 16)."""

from __future__ import annotations

import json

from nikgate.engine.layout import current_generation

from ..conftest import run_cli


def test_warm_reads_every_byte_of_the_index_files(index_dir):
    gen = current_generation(index_dir)
    sizes = {n: (gen / n).stat().st_size for n in ("data.mdb", "tokens.bin", "keys.u64")}
    out = run_cli("index", "warm", "--index", str(index_dir), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["files"] == sizes
    assert report["bytes"] == sum(sizes.values())
    assert report["generation"] == str(gen)

    plain = run_cli("index", "warm", "--index", str(index_dir))
    assert plain.returncode == 0, plain.stderr
    # not a terminal: no progress, one summary line
    assert plain.stdout.count("\n") == 1 and "\r" not in plain.stdout
    assert f"read {sum(sizes.values()):,} bytes" in plain.stdout


def test_warm_without_an_index_is_one_line_error(tmp_path):
    out = run_cli("index", "warm", "--index", str(tmp_path / "none"))
    assert out.returncode == 2   # an IndexMissingError: a path to fix, as for `index info`
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nikgate: error: no index at "), out.stderr
    assert "Traceback" not in out.stderr
