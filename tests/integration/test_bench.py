"""`nikgate bench` against a real server: a short bounded run per shape; the report must be
well-formed and its counts must add up. Never a timing assertion."""

from __future__ import annotations

import json

import pytest

from nikgate.cli import main


@pytest.fixture
def target(server, certs, tmp_path, index_dir):
    (tmp_path / "ca.crt").write_bytes(certs.ca)
    (tmp_path / "c.key").write_bytes(certs.good[0])
    (tmp_path / "c.crt").write_bytes(certs.good[1])
    return ["--target", f"127.0.0.1:{server.port}", "--ca", str(tmp_path / "ca.crt"),
            "--cert", str(tmp_path / "c.crt"), "--key", str(tmp_path / "c.key"),
            "--index", str(index_dir), "--items", "2000", "--warmup", "0.3"]


def run_bench(tmp_path, target, *extra) -> tuple[int, dict, str]:
    out = tmp_path / "report.json"
    code = main(["bench", *target, "--json", str(out), *extra])
    return code, json.loads(out.read_text())


def check_counts(r: dict) -> None:
    assert r["count"] == r["ok"] + r["failed"] == sum(r["status_codes"].values())
    assert r["ok"] == r["status_codes"].get("OK", 0) > 0
    assert r["ok"] == sum(c for _, c in r["histogram_ms"])
    assert r["ok"] == sum(s["ok"] for s in r["timeline"])
    assert r["items"] == sum(s["items"] for s in r["timeline"])
    lat = r["latency_ms"]
    assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p95"] <= lat["p99"] <= lat["p99.9"] \
        <= lat["max"]
    assert r["calls_per_s"] == pytest.approx(r["ok"] / r["duration_s"])
    assert r["items_per_s"] == pytest.approx(r["items"] / r["duration_s"])


def test_closed_loop_batches_with_json_and_plot(tmp_path, target, capsys):
    png = tmp_path / "bench.png"
    code, r = run_bench(tmp_path, target, "--workload", "verify_batch", "--batch", "100",
                        "--duration", "1.5", "--processes", "2", "--channels", "1",
                        "--concurrency", "4", "--plot", str(png))
    assert code == 0
    check_counts(r)
    assert r["items"] == r["ok"] * 100 and r["failed"] == 0
    assert r["processes"] == 2 and r["spec"]["mode"] == "closed"
    assert "key" not in r["spec"]                      # no secret paths in reports
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = capsys.readouterr().out
    for heading in ("Summary:", "Latency distribution:", "Response time histogram",
                    "Status code distribution:", "[OK]"):
        assert heading in text


def test_open_loop_reports_the_rate_it_asked_and_what_came_back(tmp_path, target):
    code, r = run_bench(tmp_path, target, "--workload", "verify", "--rate", "200",
                        "--duration", "1.5", "--processes", "1", "--channels", "2")
    check_counts(r)
    o = r["open_loop"]
    assert o["target_calls_per_s"] == 200
    assert o["answered_ok_per_s"] == pytest.approx(r["ok"] / r["duration_s"])
    assert o["shortfall"] == pytest.approx(max(0.0, 1 - o["answered_ok_per_s"] / 200))
    assert r["count"] <= 200 * r["duration_s"] + 2     # never more than scheduled
    assert o["start_lag_ms"]


def test_count_bound_and_lookup(tmp_path, target):
    code, r = run_bench(tmp_path, target, "--workload", "lookup", "--count", "150",
                        "--duration", "30", "--processes", "1", "--concurrency", "3")
    assert code == 0
    check_counts(r)
    assert 150 <= r["count"] <= 150 + 3   # the calls in flight when the budget ran out


def test_streams_verify_and_return_data(tmp_path, target, request):
    code, r = run_bench(tmp_path, target, "--workload", "verify_stream", "--batch", "200",
                        "--duration", "1", "--processes", "1", "--concurrency", "2")
    assert code == 0
    check_counts(r)
    assert r["items"] == r["ok"] * 200
    request.getfixturevalue("with_duty")   # only now: the stream above needs no duty
    code, r = run_bench(tmp_path, target, "--workload", "return_data", "--batch", "200",
                        "--duration", "1", "--processes", "1", "--concurrency", "2",
                        "--hit-rate", "1")
    assert code == 0
    check_counts(r)
    assert r["items"] == r["ok"] * 200       # every record acknowledged (stored)


def test_a_bad_option_is_a_clear_error(tmp_path, target, capsys):
    assert main(["bench", *target, "--workload", "verify_stream", "--rate", "10"]) == 2
    assert "verify_stream is a stream: run it closed loop" in capsys.readouterr().err
