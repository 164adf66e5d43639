"""The benches' one machine record: today's keys, and saved reports with the old keys."""

from __future__ import annotations

from bench.machine import OLD_KEYS, describe, load_machine, machine

KEYS = {"cpus", "cpu_model", "mem_gib", "kernel", "python", "date"}


def test_machine_has_the_shared_keys_and_the_versions_given():
    m = machine(sqlite="3.40.1")
    assert KEYS <= m.keys()
    assert m["sqlite"] == "3.40.1"
    assert isinstance(m["cpus"], int) and m["cpus"] >= 1
    assert not KEYS & set(OLD_KEYS)


def test_an_engine_report_saved_with_the_old_keys_loads_under_the_new_ones():
    saved = {"nproc": 2, "cpu": "Intel(R) Xeon(R) Processor", "ram_gib": 23.6,
             "python": "3.11.7", "lmdb_module": "3.0.0", "sqlite": "3.40.1"}
    m = load_machine(saved)
    assert m == {"cpus": 2, "cpu_model": "Intel(R) Xeon(R) Processor", "mem_gib": 23.6,
                 "python": "3.11.7", "lmdb_module": "3.0.0", "sqlite": "3.40.1"}
    assert describe(m) == "2 CPU (Intel(R) Xeon(R) Processor), 23.6 GiB RAM, Python 3.11.7"


def test_a_new_report_loads_unchanged():
    m = machine()
    assert load_machine(m) == m


def test_the_engine_bench_reprints_an_old_saved_run(tmp_path, capsys):
    import json

    from bench import engine_bench

    report = tmp_path / "run.json"
    report.write_text(json.dumps({"machine": {"nproc": 2, "cpu": "X", "ram_gib": 1.5,
                                              "python": "3.11.7", "lmdb_module": "3.0.0",
                                              "sqlite": "3.40.1"},
                                  "results": []}))
    assert engine_bench.main(["--report", str(report)]) == 0
    assert "machine: 2 CPU (X), 1.5 GiB RAM, Python 3.11.7, py-lmdb 3.0.0, sqlite 3.40.1" \
        in capsys.readouterr().out
