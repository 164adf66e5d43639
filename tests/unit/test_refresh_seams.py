"""The refresh seams: a grant change and noted access apply when asked, not after a wait."""

from __future__ import annotations

import pytest

from nikgate.server.access.admin import Admin
from nikgate.server.access.policy import AccessPolicy
from nikgate.server.access.store import ControlStore
from nikgate.server.returns.ledger import AccessLedger
from nikgate.server.returns.store import ReturnStore

NIK = "3201014507900001"
FOUND, NOT_FOUND = 1, 2


@pytest.fixture
def store(tmp_path):
    s = ControlStore(tmp_path / "control")
    yield s
    s.close()


def test_a_forced_refresh_sees_a_change_the_interval_would_still_hide(store, tmp_path):
    admin = Admin(store, "test", str(tmp_path / "audit"), str(tmp_path / "audit.key"))
    policy = AccessPolicy(store, refresh_seconds=3600)
    assert policy.get("bank-a") is None
    admin.add_institution("bank-a", "Bank A", "bank")
    assert policy.get("bank-a") is None            # the cached view, inside the interval
    assert policy.refresh() is False               # not forced: still inside the interval
    assert policy.refresh(force=True) is True      # a new version was read
    assert policy.get("bank-a") is not None
    assert policy.refresh(force=True) is False     # nothing changed since


def test_a_direct_flush_makes_noted_access_durable_without_the_thread(tmp_path):
    returns = ReturnStore(tmp_path / "returns")
    try:
        ledger = AccessLedger(returns, flush_seconds=3600)   # never started
        ledger.note("bank-a", [NIK, "3201014507900002"], bytes([FOUND, NOT_FOUND]))
        assert returns.first_accessed("bank-a", int(NIK)) is None
        assert ledger.flush() == 1
        assert returns.first_accessed("bank-a", int(NIK)) is not None
        assert returns.first_accessed("bank-a", 3201014507900002) is None
        assert ledger.flush() == 0
    finally:
        returns.close()
