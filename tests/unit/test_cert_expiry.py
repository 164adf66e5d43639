"""server/pki/expiry.py without sockets: the warnings at 30, 7 and 1 days (once each), the
bounded set of accepted certificates, and the merge the supervisor exports."""

from __future__ import annotations

import datetime as dt
import logging
import os

from nikgate.server.pki import ca as pki
from nikgate.server.pki.expiry import ExpiryWatch, Sightings
from nikgate.server.pki.layout import serial_hex
from nikgate.server.pki.runtime import peer_identity

DAY = 86400.0


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _client(ca, ident: str, days: float, kind: str = "institution"):
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    issued = pki.issue_client(ca, ident, kind, not_after=now + dt.timedelta(days=days),
                              write=False)
    return issued, peer_identity(issued.cert_pem)


def test_thresholds_warn_once_each_as_time_passes(tmp_path, caplog):
    ca = pki.init_ca(tmp_path / "pki")
    issued, ident = _client(ca, "bank-a", 40)
    clock = Clock(issued.cert.not_valid_after_utc.timestamp() - 40 * DAY)
    seen = Sightings(tmp_path / f"certs-{os.getpid()}.json", clock=clock)
    seen.seen(ident, issued.cert_pem)
    seen.flush()
    watch = ExpiryWatch([("ca", ca.layout.ca_cert)], tmp_path, clock=clock)
    caplog.set_level(logging.WARNING, "nikgate.server.pki.expiry")
    crossed = []
    for days_left in (35, 29.5, 20, 8, 6.9, 6, 0.9, 0.5, -1):
        clock.t = issued.cert.not_valid_after_utc.timestamp() - days_left * DAY
        seen.tick()   # the worker keeps stamping it: still inside the window
        seen.seen(ident, issued.cert_pem)
        seen.flush()
        crossed += [(days_left, c.role) for c in watch.check()]
        watch.check()   # a second check in the same state says nothing more
    assert crossed == [(29.5, "client"), (6.9, "client"), (0.9, "client")]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert all(issued.serial_hex in line and "(bank-a)" in line and
               "nikgate pki renew bank-a --dir DIR" in line for line in lines)
    assert "under 30" in lines[0] and "under 7" in lines[1] and "under 1" in lines[2]


def test_held_certificates_warn_at_start_and_show_without_a_worker(tmp_path, caplog):
    ca = pki.init_ca(tmp_path / "pki", days=20)
    now = dt.datetime.now(dt.UTC)
    server = pki.issue_server(ca, not_after=now + dt.timedelta(days=5))
    watch = ExpiryWatch([("ca", ca.layout.ca_cert), ("server", ca.layout.server_cert)], None)
    caplog.set_level(logging.WARNING, "nikgate.server.pki.expiry")
    assert {(c.role, c.serial) for c in watch.check()} == {
        ("ca", serial_hex(ca.cert.serial_number)), ("server", server.serial_hex)}
    assert watch.check() == []
    text = caplog.text
    assert "under 30" in text and "under 7" in text and "nikgate pki issue-server" in text
    # a rotated server certificate is re-read: the new one shows, the old one does not
    fresh = pki.issue_server(ca)
    serials = {c.serial for c in watch.certificates() if c.role == "server"}
    assert serials == {fresh.serial_hex}


def test_sightings_are_bounded_and_drop_the_least_recently_seen(tmp_path):
    ca = pki.init_ca(tmp_path / "pki")
    clock = Clock(1e9)
    seen = Sightings(None, max_entries=3, window=DAY, clock=clock)
    made = [_client(ca, f"bank-{i}", 30) for i in range(5)]
    for issued, ident in made[:3]:
        clock.t += 10
        seen.tick()
        seen.seen(ident, issued.cert_pem)
    clock.t += 10
    seen.tick()
    seen.seen(made[0][1], made[0][0].cert_pem)   # bank-0 is used again: kept
    for issued, ident in made[3:]:
        seen.seen(ident, issued.cert_pem)
    assert len(seen) == 3
    assert {e.principal for e in seen.entries()} == {"bank-0", "bank-3", "bank-4"}
    clock.t += DAY + 100
    seen.tick()   # none was seen in the last day
    assert len(seen) == 0


def test_roles_and_principals_and_the_window(tmp_path):
    ca = pki.init_ca(tmp_path / "pki")
    clock = Clock(dt.datetime.now(dt.UTC).timestamp())
    a = Sightings(tmp_path / "certs-1.json", clock=clock)       # pid 1 is alive: init
    b = Sightings(tmp_path / f"certs-{os.getpid()}.json", clock=clock)
    gone = Sightings(tmp_path / "certs-999999999.json", clock=clock)   # no such process
    bank, bank_id = _client(ca, "bank-a", 10)
    portal, portal_id = _client(ca, "portal-1", 50, kind="portal")
    ops, ops_id = _client(ca, "ops", 100, kind="operator")
    a.seen(bank_id, bank.cert_pem)
    b.seen(bank_id, bank.cert_pem)   # two workers saw the same one: one series
    b.seen(portal_id, portal.cert_pem)
    gone.seen(ops_id, ops.cert_pem)
    for s in (a, b, gone):
        s.flush()
    watch = ExpiryWatch([], tmp_path, clock=clock)
    got = sorted((c.role, c.principal, c.serial, round(c.days_left(clock.t)))
                 for c in watch.certificates())
    assert got == [("adapter", "portal:portal-1", portal.serial_hex, 50),
                   ("client", "bank-a", bank.serial_hex, 10)]
    clock.t += 2 * DAY   # the files say they were last seen two days ago: out of the window
    assert watch.certificates() == []


def test_a_forwarded_certificate_is_read_from_its_base64_der(tmp_path):
    import base64

    from cryptography.hazmat.primitives import serialization

    ca = pki.init_ca(tmp_path / "pki")
    issued, ident = _client(ca, "bank-a", 12)
    seen = Sightings(None)
    seen.seen(ident, base64.b64encode(
        issued.cert.public_bytes(serialization.Encoding.DER)).decode())
    [entry] = seen.entries()
    assert (entry.role, entry.principal, entry.serial) == ("client", "bank-a",
                                                           issued.serial_hex)
    assert entry.not_after == issued.cert.not_valid_after_utc.timestamp()
