"""Admin over a real control store and audit log: usage checks, turns, failed changes."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from nikgate.errors import InvalidInputError
from nikgate.server.access.admin import Admin
from nikgate.server.access.admin_audit import AdminTurn
from nikgate.server.access.store import ControlStore
from nikgate.server.audit import AuditError, AuditLog, StreamBusyError, verify_log
from nikgate.server.audit.queries import tail


@pytest.fixture
def store(tmp_path):
    s = ControlStore(tmp_path / "control")
    yield s
    s.close()


@pytest.fixture
def admin(store, tmp_path):
    a = Admin(store, "test", str(tmp_path / "audit"), str(tmp_path / "audit.key"))
    a.add_institution("bank-a", "Bank A", "bank")
    return a


def _calls(tmp_path) -> list[dict]:
    return [r for r in tail(tmp_path / "audit", 1000) if r["kind"] == "call"]


# -- GetUsage / grant usage: the day and the institution are checked ---------------------

@pytest.mark.parametrize("day", ["2026-13-45", "2026-02-30", "20261128", "2026-W48-6",
                                 "2026-1-5", "yesterday", "２０２６-11-28"])
def test_usage_refuses_a_day_that_is_not_a_real_yyyy_mm_dd_date(admin, day):
    with pytest.raises(InvalidInputError, match="YYYY-MM-DD") as info:
        admin.usage("bank-a", day)
    assert info.value.field == "day"


def test_usage_refuses_an_unknown_institution_and_says_how_to_list_them(admin):
    with pytest.raises(InvalidInputError, match="nikgate institution list") as info:
        admin.usage("bank-nope", "2026-11-28")
    assert info.value.field == "institution"


def test_usage_of_a_known_institution_on_a_real_day(admin):
    assert admin.usage("bank-a", "2024-02-29").total == 0
    assert admin.usage("bank-a").day == admin.usage("bank-a", "").day
    dt.date.fromisoformat(admin.usage("bank-a").day)


# -- turns on the admin stream --------------------------------------------------------------

def test_a_worker_stream_is_refused_at_once_and_a_waiting_writer_says_how_long(tmp_path):
    with AuditLog.open(tmp_path / "a", tmp_path / "k", "w0"):
        with pytest.raises(StreamBusyError, match="give each worker process its own"):
            AuditLog.open(tmp_path / "a", tmp_path / "k", "w0")
        with pytest.raises(StreamBusyError, match="after waiting 0.05 s; if that process"):
            AuditLog.open(tmp_path / "a", tmp_path / "k", "w0", lock_wait=0.05)


def test_a_waiting_writer_gets_the_stream_when_it_is_released(tmp_path):
    first = AuditLog.open(tmp_path / "a", tmp_path / "k", "admin")
    threading.Timer(0.2, first.close).start()
    with AuditLog.open(tmp_path / "a", tmp_path / "k", "admin", lock_wait=30) as second:
        assert second.head[0] > 0
    assert verify_log(tmp_path / "a").ok


def test_an_administrator_waits_for_the_one_before_it(admin, tmp_path):
    other = Admin(admin.store, "second", admin.audit_dir, admin.audit_key)
    done = []
    with AdminTurn.take(admin.audit_dir, admin.audit_key, admin.store):
        t = threading.Thread(target=lambda: done.append(
            other.add_institution("bank-b", "Bank B", "bank")))
        t.start()
        t.join(0.3)
        assert not done          # still waiting for the turn held here
    t.join(30)
    assert done and "bank-b" in admin.store.snapshot()[1]
    assert [c["institution"] for c in _calls(tmp_path)] == ["bank-a", "bank-b"]


# -- a change and its record succeed or fail together ---------------------------------------

def test_a_change_whose_record_cannot_be_written_is_not_stored(admin, tmp_path):
    version = admin.store.version()
    with AdminTurn.take(admin.audit_dir, admin.audit_key, admin.store) as turn:
        turn.log.close()         # a real failure of the writer: appends now raise
        with pytest.raises(AuditError, match="nothing was changed"):
            turn.change("institution.add", "bank-x", "by test",
                        lambda tx: admin.store.put_institution(None, admin_tx=tx))
    assert "bank-x" not in admin.store.snapshot()[1]
    assert admin.store.version() == version and admin.store.admin_intents() == {}
    assert [c["institution"] for c in _calls(tmp_path)] == ["bank-a"]


def test_a_change_the_store_refuses_is_followed_by_an_aborted_record(admin, tmp_path):
    def refuse(tx):
        raise OSError(28, "No space left on device")

    with AdminTurn.take(admin.audit_dir, admin.audit_key, admin.store) as turn:
        with pytest.raises(OSError):
            turn.change("institution.add", "bank-x", "by test", refuse)
    calls = _calls(tmp_path)
    assert [(c["institution"], c["result"]) for c in calls] == [
        ("bank-a", "OK"), ("bank-x", "OK"), ("bank-x", "ABORTED")]
    assert calls[1]["tx"] == calls[2]["tx"] and "No space left" in calls[2]["purpose"]
    assert admin.store.admin_intents() == {}
    assert verify_log(tmp_path / "audit").ok


def test_an_intent_left_behind_is_settled_by_the_next_turn(admin, tmp_path):
    # a command that died after its record (the integration tests kill -9 one for real)
    with AdminTurn.take(admin.audit_dir, admin.audit_key, admin.store) as turn:
        admin.store.note_admin_intent("admin-dead", b"{}")
        turn._append("admin-dead", "admin/institution.add", "bank-x", "by test", "OK")
        admin.store.note_admin_intent("admin-early", b"{}")   # died before its record
    admin.add_institution("bank-c", "Bank C", "bank")
    calls = _calls(tmp_path)
    assert [(c["tx"], c["institution"], c["result"]) for c in calls[1:]] == [
        ("admin-dead", "bank-x", "OK"), ("admin-dead", "bank-x", "ABORTED"),
        (calls[-1]["tx"], "bank-c", "OK")]
    assert admin.store.admin_intents() == {}
