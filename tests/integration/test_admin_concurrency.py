"""Concurrent `nikgate institution/grant` processes: each waits its turn, and every change
is stored with exactly one audit record; a change whose record cannot be written, or whose
command is killed between record and store, leaves log and store telling the same story."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nikgate.server.access.admin import Admin
from nikgate.server.access.store import ControlStore
from nikgate.server.audit import verify_log
from nikgate.server.audit.queries import tail

from ..conftest import run_cli
from .conftest import full_grant

INSTITUTIONS = [f"bank-{j}" for j in range(10)]


def _exe() -> list[str]:
    exe = Path(sys.executable).with_name("nikgate")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "nikgate"]


@pytest.fixture
def where(tmp_path):
    return tmp_path / "control", tmp_path / "audit", tmp_path / "audit.key"


def _opts(where) -> list[str]:
    store, audit, key = where
    return ["--store", str(store), "--audit-dir", str(audit), "--audit-key", str(key)]


def _run_all(commands: list[list[str]]) -> list[tuple[int, str, str]]:
    """Start every command at once, then wait for all of them."""
    procs = [subprocess.Popen([*_exe(), *c], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for c in commands]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=240)
        out.append((p.returncode, stdout, stderr))
    return out


def _admin_calls(audit: Path) -> list[dict]:
    """The admin stream's call records, in seq order."""
    recs = [r for r in tail(audit, 100_000) if r["stream"] == "admin" and r["kind"] == "call"]
    return sorted(recs, key=lambda r: r["seq"])


def _store_state(path: Path):
    store = ControlStore(path)
    try:
        version, institutions, grants = store.snapshot()
        return version, institutions, grants, store.admin_intents()
    finally:
        store.close()


def test_ten_concurrent_institution_adds_all_succeed_each_audited_once(where):
    results = _run_all([["institution", "add", i, "--name", i.upper(), "--kind", "bank",
                         *_opts(where)] for i in INSTITUTIONS])
    for rc, stdout, stderr in results:
        assert rc == 0 and "registered" in stdout, stderr
    version, institutions, _, intents = _store_state(where[0])
    assert sorted(institutions) == INSTITUTIONS and version == 10 and intents == {}
    calls = _admin_calls(where[1])
    assert sorted(c["institution"] for c in calls) == INSTITUTIONS
    assert {(c["method"], c["result"]) for c in calls} == {("admin/institution.add", "OK")}
    assert len({c["tx"] for c in calls}) == 10
    report = verify_log(where[1])
    assert report.ok, report.problems


def test_forty_concurrent_grant_changes_are_stored_and_audited_in_one_order(where):
    setup = Admin(ControlStore(where[0]), "setup", str(where[1]), str(where[2]))
    for inst in INSTITUTIONS:
        setup.add_institution(inst, inst, "bank")
        setup.set_grant(full_grant(inst))
    setup.store.close()
    # per institution: two grant sets (quota 1000 + i names the change), a suspend and an
    # activate, all 40 at once; their order is whatever the turns make it
    commands = []
    for i in range(40):
        inst, step = INSTITUTIONS[i % 10], i // 10
        who = ["--operator", f"op{i}", *_opts(where)]
        if step in (0, 3):
            commands.append(["grant", "set", inst, "--operations", "verify", "--fields",
                             "verify=NAMA_LGKP", "--from", "2026-01-01", "--until",
                             "2027-12-31", "--quota", str(1000 + i), *who])
        elif step == 1:
            commands.append(["grant", "suspend", inst, "--reason", f"review {i}", *who])
        else:
            commands.append(["grant", "activate", inst, *who])
    before = _store_state(where[0])[0]
    for rc, _, stderr in _run_all(commands):
        assert rc == 0, stderr
    version, _, grants, intents = _store_state(where[0])
    calls = _admin_calls(where[1])[2 * len(INSTITUTIONS):]
    assert len(calls) == 40 and version - before == 40 and intents == {}
    assert all(c["result"] == "OK" for c in calls) and len({c["tx"] for c in calls}) == 40
    # replaying the log in seq order gives exactly what the store holds
    expected: dict[str, dict] = {}
    for c in calls:
        i = int(c["purpose"].split(":")[0].removeprefix("by op"))
        state = expected.setdefault(c["institution"], {"quota": 0})
        if c["method"] == "admin/grant.set":
            state.update(quota=1000 + i, status="active")
        else:
            state["status"] = c["method"].removeprefix("admin/grant.")
    assert {k: {"quota": g.daily_quota, "status": g.status} for k, g in grants.items()} \
        == expected
    assert sorted(expected) == INSTITUTIONS
    report = verify_log(where[1])
    assert report.ok, report.problems


def test_a_change_whose_audit_record_cannot_be_written_is_not_stored(tmp_path, where):
    store, audit, key = where
    audit.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(audit)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip("needs `mount -t tmpfs` (root) to make a full audit disk: "
                    + (mounted.stderr.strip() or "mount refused"))
    try:
        assert run_cli("institution", "add", "bank-a", "--name", "A",
                       *_opts(where)).returncode == 0
        filler = audit / "filler"
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        before = _store_state(store)
        r = run_cli("institution", "add", "bank-b", "--name", "B", *_opts(where))
        assert r.returncode == 1
        errors = [line for line in r.stderr.splitlines() if line.startswith("nikgate:")]
        assert len(errors) == 1 and "nothing was changed" in errors[0], r.stderr
        assert "No space left on device" in errors[0] and "run the command again" in errors[0]
        after = _store_state(store)
        assert "bank-b" not in after[1] and after[0] == before[0] and after[3] == {}
        # with room again the same command works, and the log holds one record per change
        filler.unlink()
        assert run_cli("institution", "add", "bank-b", "--name", "B",
                       *_opts(where)).returncode == 0
        assert [c["institution"] for c in _admin_calls(audit)] == ["bank-a", "bank-b"]
        report = verify_log(audit)
        assert report.ok, report.problems
    finally:
        subprocess.run(["umount", str(audit)], check=False)


KILLED_BETWEEN_RECORD_AND_STORE = """
import os, signal, sys
from nikgate.server.access.admin_audit import AdminTurn
from nikgate.server.access.grants import Institution
from nikgate.server.access.admin import Admin
from nikgate.server.access.store import ControlStore
store, audit, key = sys.argv[1:]
s = ControlStore(store)
with AdminTurn.take(audit, key, s) as turn:
    turn.change("institution.add", "bank-k", "by killed: Bank K (bank)",
                lambda tx: os.kill(os.getpid(), signal.SIGKILL))
"""


def test_a_command_killed_between_record_and_store_is_marked_aborted_by_the_next(where):
    store, audit, key = where
    assert run_cli("institution", "add", "bank-a", "--name", "A", *_opts(where)).returncode == 0
    killed = subprocess.run([sys.executable, "-c", KILLED_BETWEEN_RECORD_AND_STORE,
                             str(store), str(audit), str(key)], capture_output=True)
    assert killed.returncode == -9, killed.stderr
    _, institutions, _, intents = _store_state(store)
    assert "bank-k" not in institutions and len(intents) == 1
    # the log now claims the change and ends unsealed, which verify reports
    assert [c["institution"] for c in _admin_calls(audit)] == ["bank-a", "bank-k"]
    assert not verify_log(audit).ok
    # the next administrator settles it
    assert run_cli("institution", "add", "bank-b", "--name", "B", *_opts(where)).returncode == 0
    calls = _admin_calls(audit)
    assert [(c["institution"], c["result"]) for c in calls] == [
        ("bank-a", "OK"), ("bank-k", "OK"), ("bank-k", "ABORTED"), ("bank-b", "OK")]
    assert calls[1]["tx"] == calls[2]["tx"]
    assert "stopped between its audit record and the store" in calls[2]["purpose"]
    _, institutions, _, intents = _store_state(store)
    assert sorted(institutions) == ["bank-a", "bank-b"] and intents == {}
    report = verify_log(audit)
    assert report.ok, report.problems
    assert os.path.exists(audit / "admin")
