"""Obligations over a real return-data store: counts, urgency order, enforcement grace."""

from __future__ import annotations

import datetime as dt

import pytest

from nikgate.server.access.admin import Admin
from nikgate.server.access.grants import Grant
from nikgate.server.access.store import ControlStore
from nikgate.server.returns.obligations import DAY_MS, Enforcer, compute
from nikgate.server.returns.store import ReturnStore, Submission

T0 = 1_790_000_000_000   # an arbitrary "now" in unix ms
NIKS = [3201014507900001 + i for i in range(6)]


@pytest.fixture
def store(tmp_path):
    s = ReturnStore(tmp_path / "returns")
    yield s
    s.close()


def submit(store, institution, niks, received_ms):
    sub = Submission(institution, frozenset({"bank_cif"}),
                     [f"r-{n}-{received_ms}" for n in niks], [str(n) for n in niks],
                     ["bank_cif"] * len(niks), [f"CIF{i}" for i in range(len(niks))], [],
                     received_ms)
    store.check(sub)
    store.commit([sub])
    return sub


def test_counts_and_the_most_urgent_items_first(store):
    # accessed at T0 - 10 days (0, 1, 2) and T0 - 1 day (3, 4, 5); deadline 5 days
    store.note_accessed([("bank-a", n) for n in NIKS[:3]], T0 - 10 * DAY_MS)
    store.note_accessed([("bank-a", n) for n in NIKS[3:]], T0 - 1 * DAY_MS)
    store.note_accessed([("bank-b", NIKS[0])], T0 - 10 * DAY_MS)   # another institution
    assert submit(store, "bank-a", [NIKS[0]], T0 - 9 * DAY_MS).status == b"\x01"   # in time
    submit(store, "bank-a", [NIKS[1]], T0 - 2 * DAY_MS)                           # late
    submit(store, "bank-a", [NIKS[3]], T0)                                        # in time
    ob = compute(store, "bank-a", 5, T0, max_items=2)
    assert (ob.accessed, ob.fulfilled, ob.late, ob.pending, ob.overdue) == (6, 2, 1, 2, 1)
    assert ob.compliance_ratio == pytest.approx(2 / 4)
    # overdue first (NIK 2), then the oldest pending (4, before 5 by NIK)
    assert [(nik, overdue) for nik, _, _, overdue in ob.outstanding] == [
        (NIKS[2], True), (NIKS[4], False)]
    assert ob.outstanding[0][2] == T0 - 10 * DAY_MS + 5 * DAY_MS
    assert compute(store, "bank-b", 5, T0).overdue == 1
    assert compute(store, "bank-c", 5, T0).compliance_ratio == 1.0


def test_a_record_for_a_nik_never_accessed_is_rejected(store):
    store.note_accessed([("bank-a", NIKS[0])], T0)
    sub = submit(store, "bank-a", NIKS[:2], T0)
    assert sub.status == b"\x01\x03"
    assert [(i, reason) for i, reason, _ in sub.rejections] == [(1, 3)]


def grant(updated_at: str) -> Grant:
    return Grant("bank-a", ("verify", "return_data"), {"verify": ("NAMA_LGKP",)},
                 valid_from="2026-01-01", valid_until="2027-12-31",
                 return_data_kinds=("bank_cif",), return_deadline_days=5,
                 updated_at=updated_at)


@pytest.mark.parametrize("changed_days_ago, suspended", [(1, False), (8, True)])
def test_enforcement_waits_out_the_grace_after_a_grant_change(store, tmp_path,
                                                              changed_days_ago, suspended):
    control = ControlStore(tmp_path / "control")
    try:
        Admin(control).add_institution("bank-a", "Bank A", "bank")
        changed = dt.datetime.fromtimestamp((T0 - changed_days_ago * DAY_MS) / 1000, dt.UTC)
        control.put_grant(grant(changed.isoformat(timespec="seconds")))
        store.note_accessed([("bank-a", n) for n in NIKS], T0 - 10 * DAY_MS)
        audited = []
        enforcer = Enforcer(store, lambda: control.snapshot()[2], control.suspend_if_active,
                            lambda inst, why: audited.append((inst, why)), max_overdue=5,
                            grace_days=7)
        assert enforcer.run_once(T0) == (["bank-a"] if suspended else [])
        status = control.snapshot()[2]["bank-a"].status
        assert status == ("suspended" if suspended else "active")
        assert len(audited) == int(suspended)
        assert enforcer.run_once(T0) == []   # once suspended, left alone
    finally:
        control.close()
