"""Portal accounts and sessions in the cluster's PostgreSQL: two portal instances (two
stores on one database) share a user, a session, a lockout count and the CSRF key."""

from __future__ import annotations

import pytest

from nikgate.portal.serve import open_store
from nikgate.portal.store import PortalStore
from nikgate.server.cluster.portal import PgPortalStore

from .conftest import pg_rows


@pytest.fixture
def portals(server_config, cluster_dsn, tmp_path):
    stores: list[PortalStore] = []
    for name in ("a", "b"):
        config = server_config.with_overrides(
            portal={"state": str(tmp_path / f"portal-{name}")},
            cluster={"postgres_dsn": cluster_dsn})
        stores.append(open_store(config))
    yield stores
    for store in stores:
        store.close()


def test_two_portal_instances_share_users_sessions_and_lockouts(portals, cluster_dsn):
    a, b = portals
    assert isinstance(a, PgPortalStore) and isinstance(b, PgPortalStore)
    assert a.secret("csrf") == b.secret("csrf")          # one anonymous CSRF key

    user, token = a.add_user("Staf@Bank-A.co.id", "bank-a", "viewer", "ops", 48)
    assert b.user_by_email("staf@bank-a.co.id") == user
    assert b.link_user(token) == user
    # the one-time link: used on b, useless on a afterwards
    assert b.set_password(token, "hash$1", "TOTPSECRET") is not None
    assert a.set_password(token, "hash$2", "OTHER") is None
    assert a.user(user.id).password_hash == "hash$1"
    # a TOTP step works once, whichever instance sees it
    assert a.use_totp_step(user.id, 1000)
    assert not b.use_totp_step(user.id, 1000)
    b.confirm_totp(user.id)
    assert a.user(user.id).state == "active"

    # signed in on a, signed in on b
    sid, session = a.new_session(user.id, "password")
    on_b = b.session(sid, idle=600, absolute=3600)
    assert on_b is not None and on_b.user_id == user.id and on_b.csrf == session.csrf
    csrf = b.promote(on_b.id_hash, "full")
    on_a = a.session(sid, idle=600, absolute=3600)
    assert on_a is not None and (on_a.stage, on_a.csrf) == ("full", csrf)

    # failed sign-ins count across instances: the fifth locks, wherever it happens
    results = [(a if i % 2 else b).record_failure(user.id, 5) for i in range(5)]
    assert results == [False, False, False, False, True]
    assert b.user(user.id).state == "locked" and a.user(user.id).failures == 5
    assert a.session(sid, idle=600, absolute=3600) is None   # the lock ended it
    a.unlock(user.id)
    assert b.user(user.id).state == "active"

    # the activity log and the per-day counts are the portal's, not one instance's
    a.log(user, "signin")
    b.log(user, "verify", "1 NIK", tx="tx-1")
    assert [x.action for x in a.activity(user.id)] == ["verify", "signin"]
    a.count("2026-11-29", "bank-a", 1, 1)
    b.count("2026-11-29", "bank-a", 2, 10)
    assert a.usage("bank-a", ["2026-11-29"]) == {"2026-11-29": (3, 11)}
    assert pg_rows(cluster_dsn, "SELECT count(*) FROM portal.users") == [(1,)]


def test_sqlite_stays_the_default(server_config, tmp_path):
    store = open_store(server_config.with_overrides(portal={"state": str(tmp_path / "p")}))
    try:
        assert type(store) is PortalStore
        assert (tmp_path / "p" / "portal.sqlite3").exists()
    finally:
        store.close()
