"""`nikgate serve` exports days until each certificate expires and warns once under 30 days:
real supervisor, two workers, real TLS, the metrics endpoint over HTTP."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request

import pytest

from nikgate import errors
from nikgate.clients import Connection, NikgateClient
from nikgate.server.pki import ca as pki
from nikgate.server.pki.layout import serial_hex

from .test_serve import Served, _write_config
from .waiting import eventually


def _gauge(port: int) -> dict[tuple[str, str, str], float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    out = {}
    for line in body.decode().splitlines():
        if line.startswith("nikgate_cert_expiry_days{"):
            labels, value = line.rsplit(" ", 1)
            pairs = dict(p.split("=", 1) for p in labels[labels.index("{") + 1:-1].split(","))
            key = tuple(pairs[k].strip('"') for k in ("role", "institution", "serial"))
            out[key] = float(value)
    return out


def _connection(tmp_path, port: int, name: str, issued: pki.Issued,
                ca_pem: bytes) -> Connection:
    (tmp_path / "ca.crt").write_bytes(ca_pem)
    (tmp_path / f"{name}.crt").write_bytes(issued.cert_pem)
    (tmp_path / f"{name}.key").write_bytes(issued.key_pem)
    return Connection(f"127.0.0.1:{port}", tmp_path / "ca.crt", tmp_path / f"{name}.crt",
                      tmp_path / f"{name}.key")


def test_a_short_lived_client_certificate_shows_with_its_days_and_warns_once(
        server_config, certs, index, tmp_path):
    ca = pki.load_ca(certs.pki_dir)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    short = pki.issue_client(ca, "bank-a", not_after=now + dt.timedelta(days=10), write=False)
    portal = pki.issue_client(ca, "portal-x", kind="portal", write=False)
    served = Served(_write_config(tmp_path / "n.toml", server_config, metrics="127.0.0.1:0"),
                    tmp_path / "port")
    try:
        def conn(name, issued):
            return _connection(tmp_path, served.port, name, issued, certs.ca)

        nik = index.sample_niks(1)[0]
        with NikgateClient(conn("short", short)) as c:
            for _ in range(3):
                c.verify(nik, {"NAMA_LGKP": "X"})
        with NikgateClient(conn("portal", portal)) as c, \
                pytest.raises(errors.PermissionDenied):
            c.verify(nik, {"NAMA_LGKP": "X"})   # no on-behalf headers: refused, yet seen

        client = ("client", "bank-a", short.serial_hex)
        adapter = ("adapter", "portal:portal-x", portal.serial_hex)
        gauge = eventually(lambda: (g := _gauge(served.metrics_port)) and client in g
                           and adapter in g and g, timeout=15,
                           what="the accepted certificates in nikgate_cert_expiry_days")
        assert gauge[client] == pytest.approx(10.0, abs=0.01)
        assert gauge[adapter] == pytest.approx(365.0, abs=0.01)
        held = {k[0]: v for k, v in gauge.items() if k[0] in ("ca", "server")}
        assert held["ca"] == pytest.approx(
            (ca.cert.not_valid_after_utc - now).total_seconds() / 86400, abs=0.01)
        assert ("ca", "", serial_hex(ca.cert.serial_number)) in gauge
        assert 300 < held["server"] < 398
        _gauge(served.metrics_port)   # another scrape (each scrape checks the thresholds)
    finally:
        err = served.stop()
    warnings = [json.loads(line) for line in err.splitlines()
                if line.startswith("{") and "nikgate.server.pki.expiry" in line]
    assert [(w["level"], w["role"], w["institution"], w["serial"], w["threshold_days"])
            for w in warnings] == [("WARNING", "client", "bank-a", short.serial_hex, 30)]
    assert "expires in 10.0 days" in warnings[0]["msg"]
    assert "nikgate pki renew bank-a" in warnings[0]["msg"]
