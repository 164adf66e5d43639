"""Progress of long commands: rows, rate and time left on a terminal, nothing in scripts."""

from __future__ import annotations

import re

import pytest

from nikgate.synth import write_delta, write_export

from ..conftest import run_cli
from .terminal import run_cli_on_terminal

# "generating: 20,080 / 45,000 rows, 20,124 rows/s, 2 s left"
ROWS_LINE = re.compile(r"\r(\w[\w ]*): [\d,]+ / [\d,]+ (rows|records), [\d,]+ \2/s, .*left")
BYTES_LINE = re.compile(r"\rreading export: [\d,]+ / [\d,]+ MiB, [\d,.]+ MiB/s, .*left")


def _no_progress(text: str) -> None:
    assert "\r" not in text and "left" not in text and "\033" not in text, text


@pytest.fixture(scope="module")
def export_and_delta(tmp_path_factory):
    root = tmp_path_factory.mktemp("progress")
    export, delta = root / "export.csv", root / "delta.csv"
    write_export(export, 20_000, seed=3)
    write_delta(export, delta, changes=2_500, seed=4)
    return export, delta


def test_generate_draws_progress_on_a_terminal_and_nothing_in_a_pipe(tmp_path):
    args = ("data", "generate", "--records", "45000", "--seed", "9", "--workers", "2")
    tty = run_cli_on_terminal(*args, "--out", str(tmp_path / "tty.csv"))
    assert tty.returncode == 0, tty.stderr
    m = ROWS_LINE.search(tty.stderr)
    assert m and m.group(1) == "generating", tty.stderr
    # the line is cleared before the summary, which stays
    assert tty.stderr.rstrip().splitlines()[-1].endswith("rows/s)")

    piped = run_cli(*args, "--out", str(tmp_path / "pipe.csv"))
    assert piped.returncode == 0, piped.stderr
    _no_progress(piped.stderr)
    assert piped.stderr.count("\n") == 1 and piped.stderr.startswith("wrote 45000 records")
    # the same file, drawn or not, 2 workers or 1
    one = run_cli("data", "generate", "--records", "45000", "--seed", "9", "--workers", "1",
                  "--out", str(tmp_path / "one.csv"))
    assert one.returncode == 0, one.stderr
    data = (tmp_path / "pipe.csv").read_bytes()
    assert data == (tmp_path / "tty.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()

    quiet = run_cli_on_terminal(*args, "--out", str(tmp_path / "q.csv"), "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr


def test_build_and_apply_draw_progress_on_a_terminal_only(export_and_delta, tmp_path):
    export, delta = export_and_delta
    tty = run_cli_on_terminal("index", "build", "--from", str(export),
                              "--out", str(tmp_path / "a"))
    assert tty.returncode == 0, tty.stderr
    assert BYTES_LINE.search(tty.stderr), tty.stderr
    assert "built index" in tty.stdout
    _no_progress(tty.stdout)

    piped = run_cli("index", "build", "--from", str(export), "--out", str(tmp_path / "b"))
    assert piped.returncode == 0, piped.stderr
    _no_progress(piped.stderr + piped.stdout)

    applied = run_cli_on_terminal("index", "apply", "--index", str(tmp_path / "a"),
                                  "--delta", str(delta))
    assert applied.returncode == 0, applied.stderr
    m = ROWS_LINE.search(applied.stderr)
    assert m and m.group(1) == "applying", applied.stderr
    assert " / 2,500 rows" in applied.stderr

    piped = run_cli("index", "apply", "--index", str(tmp_path / "b"), "--delta", str(delta))
    assert piped.returncode == 0, piped.stderr
    _no_progress(piped.stderr + piped.stdout)


def test_json_output_draws_no_progress_even_on_a_terminal(export_and_delta, tmp_path):
    export, delta = export_and_delta
    built = run_cli_on_terminal("index", "build", "--from", str(export),
                                "--out", str(tmp_path / "a"), "--json")
    assert built.returncode == 0 and built.stderr == "", built.stderr
    applied = run_cli_on_terminal("index", "apply", "--index", str(tmp_path / "a"),
                                  "--delta", str(delta), "--json")
    assert applied.returncode == 0 and applied.stderr == "", applied.stderr
