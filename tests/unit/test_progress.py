"""nikgate.progress: the line's text, and silence when disabled."""

from __future__ import annotations

import io

from nikgate.progress import Progress, data_lines


def test_line_has_count_rate_and_time_left():
    p = Progress("generating", 1_000_000, stream=io.StringIO())
    p.done = 250_000
    assert p.line(2.0) == "generating: 250,000 / 1,000,000 rows, 125,000 rows/s, 6 s left"
    p.done = 10_000
    assert p.line(1.0).endswith("1 min 39 s left")


def test_bytes_and_unknown_total():
    p = Progress("reading export", None, "bytes", stream=io.StringIO())
    p.done = 300 << 20
    assert p.line(3.0) == "reading export: 300 MiB, 100.0 MiB/s"


def test_draws_at_most_every_interval_and_clears():
    out = io.StringIO()
    with Progress("x", 10, stream=out, interval=3600) as p:
        for i in range(1, 11):
            p(i)
    text = out.getvalue()
    assert text.count("\rx: ") == 1 and text.endswith("\r\033[K")


def test_disabled_writes_nothing():
    out = io.StringIO()
    with Progress("x", 10, stream=out, enabled=False) as p:
        p(5)
    assert out.getvalue() == "" and p.done == 5


def test_data_lines_counts_rows_after_the_header(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text("h\n1\n2\n3\n")
    assert data_lines(str(f)) == 3
