"""Adapters acting on behalf of someone, against the real session server: the portal for an
institution's portal user or an operator, the JSON gateway forwarding the certificate an
institution presented to it; every refusal, each audited; the audit record and the receipt
name the adapter and the user (docs/pki.md "Adapters", docs/access.md, docs/security.md).

Adapter certificates are issued with `nikgate pki issue --kind portal|gateway` from the
session CA."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from nikgate import methods
from nikgate.server.access.admin import Admin
from nikgate.server.audit.queries import tail
from nikgate.server.pki import ca as pki
from nikgate.server.receipts import verify_receipt
from nikgate.v1 import admin_pb2
from nikgate.v1 import verification_pb2 as vpb

from ..conftest import run_cli
from .conftest import channel, full_grant

VERIFY = methods.rpc("Verification", "Verify")
VERIFY_STREAM = methods.rpc("Verification", "VerifyStream")
GET_GRANT = methods.rpc("Admin", "GetGrant")
PORTAL, GATEWAY = "portal-t", "gateway-t"
ON_BEHALF_OF = "nikgate-on-behalf-of"
ON_BEHALF_OF_OPERATOR = "nikgate-on-behalf-of-operator"
ON_BEHALF_OF_CERT = "nikgate-on-behalf-of-cert"
PORTAL_USER = "nikgate-portal-user"


@dataclass
class Adapters:
    portal: grpc.Channel
    gateway: grpc.Channel
    bank: grpc.Channel           # bank-a's own certificate, direct
    operator: grpc.Channel       # an operator's own certificate, direct
    forwarded: dict[str, str]    # base64 DER of the certificates a gateway may forward
    serials: dict[str, str]


def _b64(cert_pem: bytes) -> str:
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    return base64.b64encode(der).decode()


def _serial(cert_pem: bytes) -> str:
    return f"{x509.load_pem_x509_certificate(cert_pem).serial_number:x}"


def _creds(certs, key_pem: bytes, cert_pem: bytes) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(certs.ca, key_pem, cert_pem)


@pytest.fixture(scope="module")
def adapters(server, certs) -> Adapters:
    # the adapters' certificates as an operator issues them: the CLI, from the session CA
    for kind, ident in (("portal", PORTAL), ("gateway", GATEWAY)):
        out = run_cli("pki", "issue", "--kind", kind, "--id", ident,
                      "--dir", str(certs.pki_dir), "--json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["kind"] == kind
    layout = pki.Layout(certs.pki_dir)
    ca = pki.load_ca(certs.pki_dir)
    revoked = pki.issue_client(ca, "bank-a", write=False)   # another of bank-a's, revoked
    pki.revoke(ca, revoked.serial, "key_compromise")
    addr = f"localhost:{server.port}"

    def open_as(kind: str, ident: str) -> grpc.Channel:
        crt, key = layout.client_paths(kind, ident)
        return grpc.secure_channel(addr, _creds(certs, key.read_bytes(), crt.read_bytes()))

    made = Adapters(
        portal=open_as("portal", PORTAL), gateway=open_as("gateway", GATEWAY),
        bank=channel(server.port, certs), operator=channel(server.port, certs, "operator"),
        forwarded={"good": _b64(certs.good[1]), "revoked": _b64(revoked.cert_pem),
                   "expired": _b64(certs.expired[1]), "other_ca": _b64(certs.other_ca[1]),
                   "operator": _b64(certs.operator[1]), "unknown": _b64(certs.unknown[1])},
        serials={"good": _serial(certs.good[1]),
                 "portal": _serial(layout.client_paths("portal", PORTAL)[0].read_bytes())})
    server.running.guard.auth._crl.reload()   # the revocation, now rather than in 0.5 s
    yield made
    for ch in (made.portal, made.gateway, made.bank, made.operator):
        ch.close()


@pytest.fixture
def portal_granted(server):
    """bank-a's grant allows channel portal for this test; restored afterwards."""
    admin = Admin(server.running.store)
    admin.set_grant(full_grant("bank-a", channels=("web_service", "portal")))
    yield
    admin.set_grant(full_grant("bank-a"))


def call(ch: grpc.Channel, rpc, request, metadata=()) -> tuple[object, bytes]:
    method = ch.unary_unary(rpc.path, lambda b: b, lambda b: b)
    raw = method(request.SerializeToString(), timeout=30, metadata=tuple(metadata))
    return rpc.response.FromString(raw), raw


def refused(ch, metadata, code: grpc.StatusCode, words: str, rpc=VERIFY,
            request=None) -> str:
    """Call and expect `code` with `words` in the message; returns the transaction id."""
    with pytest.raises(grpc.RpcError) as info:
        call(ch, rpc, request if request is not None else _verify_request(), metadata)
    error = info.value
    assert error.code() is code, error.details()
    assert words in error.details(), error.details()
    return dict(error.trailing_metadata() or ())["nikgate-transaction-id"]


_NIK = "3201014507900001"


def _verify_request(nik: str = _NIK) -> vpb.VerifyRequest:
    return vpb.VerifyRequest(nik=nik, claims={"NAMA_LGKP": "BUDI"})


def audit_of(server_config, tx: str) -> dict:
    for rec in reversed(tail(server_config.audit.directory, 400)):
        if rec.get("tx") == tx and rec["kind"] == "call":
            return rec
    raise AssertionError(f"no audit record for {tx}")


def portal_for(institution: str = "bank-a", user: str = "u-7f3a01"):
    return ((ON_BEHALF_OF, institution), (PORTAL_USER, user))


# -- the portal ------------------------------------------------------------------------------


def test_the_portal_acts_for_an_institution_under_channel_portal(
        adapters, portal_granted, server, server_config, receipt_public_key, index, tmp_path):
    nik = index.sample_niks(1)[0]
    request = _verify_request(nik)
    reply, raw = call(adapters.portal, VERIFY, request, portal_for(user="siti@rsud.example"))
    assert reply.status == 1   # FOUND: bank-a's grant was applied
    rec = audit_of(server_config, reply.transaction_id)
    assert (rec["result"], rec["institution"], rec["channel"], rec["adapter"], rec["user"],
            rec["cert_serial"]) == ("OK", "bank-a", "portal", f"portal:{PORTAL}",
                                    "siti@rsud.example", adapters.serials["portal"])
    check = verify_receipt(raw, _public_key(receipt_public_key), request.SerializeToString())
    assert check.valid, check.reason
    assert (check.payload.institution_id, check.payload.adapter,
            check.payload.acting_user) == ("bank-a", f"portal:{PORTAL}", "siti@rsud.example")
    saved = tmp_path / "r.json"
    saved.write_text(json.dumps({"response_b64": base64.b64encode(raw).decode()}))
    out = run_cli("receipt", "verify", str(saved), "--public-key", str(receipt_public_key))
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"adapter: portal:{PORTAL}" in out.stdout
    assert "acting_user: siti@rsud.example" in out.stdout


def test_the_portal_counts_the_institutions_quota(adapters, portal_granted, server):
    admin = Admin(server.running.store)
    before = admin.usage("bank-a").items.get("verify", 0)
    call(adapters.portal, VERIFY, _verify_request(), portal_for())
    assert admin.usage("bank-a").items.get("verify", 0) == before + 1


def test_the_portal_is_refused_when_the_grant_lacks_channel_portal(
        adapters, server_config):
    tx = refused(adapters.portal, portal_for(user="u-nochannel"),
                 grpc.StatusCode.PERMISSION_DENIED, "channel portal is not granted to bank-a")
    rec = audit_of(server_config, tx)
    assert (rec["result"], rec["institution"], rec["channel"], rec["adapter"], rec["user"]) == (
        "PERMISSION_DENIED", "bank-a", "portal", f"portal:{PORTAL}", "u-nochannel")


def test_a_portal_stream_is_the_institutions_message_by_message(
        adapters, portal_granted, server_config, index):
    niks = index.sample_niks(4)
    method = adapters.portal.stream_stream(VERIFY_STREAM.path, lambda b: b, lambda b: b)
    batches = [vpb.VerifyBatchRequest(niks=niks[i:i + 2], fields=["NAMA_LGKP"],
                                      columns=[vpb.ClaimColumn(values=["X", "Y"])])
               for i in (0, 2)]
    replies = [vpb.VerifyBatchResponse.FromString(r) for r in method(
        iter([b.SerializeToString() for b in batches]), timeout=30,
        metadata=portal_for(user="u-stream"))]
    assert len(replies) == 2
    for reply in replies:
        rec = audit_of(server_config, reply.transaction_id)
        assert (rec["institution"], rec["channel"], rec["adapter"], rec["user"]) == (
            "bank-a", "portal", f"portal:{PORTAL}", "u-stream")


def test_the_portal_acts_for_an_operator_on_admin(adapters, server_config):
    reply, _ = call(adapters.portal, GET_GRANT, admin_pb2.GetGrantRequest(
        institution="bank-a"), ((ON_BEHALF_OF_OPERATOR, "ops-dina"),
                                   (PORTAL_USER, "u-ops-dina")))
    assert reply.institution == "bank-a"
    recs = [r for r in tail(server_config.audit.directory, 400)
            if r.get("user") == "u-ops-dina"]
    assert [(r["method"], r["institution"], r["adapter"], r["channel"], r["result"])
            for r in recs] == [("GetGrant", "operator:ops-dina", f"portal:{PORTAL}",
                                "portal", "OK")]


def test_the_portal_acting_for_an_institution_cannot_administer(adapters, server_config):
    tx = refused(adapters.portal, portal_for(user="u-not-ops"),
                 grpc.StatusCode.PERMISSION_DENIED, "operator certificates only",
                 rpc=GET_GRANT, request=admin_pb2.GetGrantRequest(institution="bank-a"))
    rec = audit_of(server_config, tx)
    assert (rec["institution"], rec["adapter"], rec["user"]) == (
        "bank-a", f"portal:{PORTAL}", "u-not-ops")


@pytest.mark.parametrize("metadata, code, words", [
    ((), grpc.StatusCode.PERMISSION_DENIED, "an adapter acts only on behalf of someone"),
    (((PORTAL_USER, "u-1"),), grpc.StatusCode.PERMISSION_DENIED,
     "an adapter acts only on behalf of someone"),
    (((ON_BEHALF_OF, "bank-a"),), grpc.StatusCode.INVALID_ARGUMENT,
     "nikgate-portal-user is required"),
    (((ON_BEHALF_OF, "bank-a"), (PORTAL_USER, "u" * 129)), grpc.StatusCode.INVALID_ARGUMENT,
     "nikgate-portal-user must be 1-128 printable ASCII"),
    (((ON_BEHALF_OF, "bank-a"), (PORTAL_USER, "")), grpc.StatusCode.INVALID_ARGUMENT,
     "nikgate-portal-user must be 1-128 printable ASCII"),
    (((ON_BEHALF_OF, "Bank A!"), (PORTAL_USER, "u-1")), grpc.StatusCode.INVALID_ARGUMENT,
     "nikgate-on-behalf-of must be an id"),
    (((ON_BEHALF_OF, "bank-a"), (ON_BEHALF_OF_OPERATOR, "ops"), (PORTAL_USER, "u-1")),
     grpc.StatusCode.INVALID_ARGUMENT, "not both"),
    (((ON_BEHALF_OF, "bank-a"), (ON_BEHALF_OF, "bank-b"), (PORTAL_USER, "u-1")),
     grpc.StatusCode.INVALID_ARGUMENT, "sent twice"),
    (((ON_BEHALF_OF, "bank-nobody"), (PORTAL_USER, "u-1")),
     grpc.StatusCode.PERMISSION_DENIED, "'bank-nobody', which is not registered"),
    (((ON_BEHALF_OF_CERT, "QUJD"),), grpc.StatusCode.PERMISSION_DENIED,
     "only the gateway forwards certificates"),
    (((ON_BEHALF_OF, "bank-a"), (PORTAL_USER, "u-1"), (ON_BEHALF_OF_CERT, "QUJD")),
     grpc.StatusCode.PERMISSION_DENIED, "only the gateway forwards certificates"),
], ids=["no-headers", "user-only", "no-user", "long-user", "empty-user", "bad-id", "both",
        "twice", "unknown-institution", "gateway-header", "gateway-header-too"])
def test_the_portal_is_refused_and_audited(adapters, server_config, metadata, code, words):
    tx = refused(adapters.portal, metadata, code, words)
    rec = audit_of(server_config, tx)
    assert (rec["result"], rec["institution"], rec["adapter"], rec["channel"]) == (
        code.name, f"portal:{PORTAL}", f"portal:{PORTAL}", "portal")
    valid_user = dict(metadata).get(PORTAL_USER, "")
    if "unknown" in words or "which is not registered" in words:   # the user is known here
        assert rec["user"] == valid_user
    assert "u" * 129 not in json.dumps(rec)


# -- the gateway -----------------------------------------------------------------------------


def test_the_gateway_acts_for_the_certificate_it_was_shown(
        adapters, server, server_config, receipt_public_key):
    request = _verify_request()
    forwarded = ((ON_BEHALF_OF_CERT, adapters.forwarded["good"]),)
    reply, raw = call(adapters.gateway, VERIFY, request, forwarded)
    rec = audit_of(server_config, reply.transaction_id)
    assert (rec["result"], rec["institution"], rec["channel"], rec["adapter"],
            rec["cert_serial"]) == ("OK", "bank-a", "web_service", f"gateway:{GATEWAY}",
                                    adapters.serials["good"])
    assert "user" not in rec
    check = verify_receipt(raw, _public_key(receipt_public_key))
    assert check.valid and (check.payload.institution_id, check.payload.adapter,
                            check.payload.acting_user) == ("bank-a", f"gateway:{GATEWAY}", "")
    # the channel checked is web_service: a grant for the portal alone refuses the gateway
    admin = Admin(server.running.store)
    admin.set_grant(full_grant("bank-a", channels=("portal",)))
    try:
        tx = refused(adapters.gateway, forwarded, grpc.StatusCode.PERMISSION_DENIED,
                     "channel web_service is not granted to bank-a")
    finally:
        admin.set_grant(full_grant("bank-a"))
    assert audit_of(server_config, tx)["adapter"] == f"gateway:{GATEWAY}"


@pytest.mark.parametrize("which, code, words", [
    ("revoked", grpc.StatusCode.UNAUTHENTICATED, "is revoked"),
    ("expired", grpc.StatusCode.UNAUTHENTICATED, "has expired"),
    ("other_ca", grpc.StatusCode.UNAUTHENTICATED, "not signed by the nikgate CA"),
    ("operator", grpc.StatusCode.PERMISSION_DENIED, "acts only for institutions"),
    ("unknown", grpc.StatusCode.PERMISSION_DENIED, "'bank-unknown', which is not registered"),
])
def test_the_gateway_is_refused_a_certificate_nikgate_would_refuse(
        adapters, server_config, which, code, words):
    tx = refused(adapters.gateway, ((ON_BEHALF_OF_CERT, adapters.forwarded[which]),),
                 code, words)
    rec = audit_of(server_config, tx)
    assert (rec["result"], rec["institution"], rec["adapter"], rec["channel"]) == (
        code.name, f"gateway:{GATEWAY}", f"gateway:{GATEWAY}", "web_service")


@pytest.mark.parametrize("metadata, code, words", [
    ((), grpc.StatusCode.PERMISSION_DENIED, "an adapter acts only on behalf of someone"),
    (((ON_BEHALF_OF, "bank-a"),), grpc.StatusCode.PERMISSION_DENIED,
     "acts only for the certificate it was presented"),
    (((ON_BEHALF_OF, "bank-a"), (PORTAL_USER, "u-1")), grpc.StatusCode.PERMISSION_DENIED,
     "acts only for the certificate it was presented"),
    (((ON_BEHALF_OF_CERT, "not base64!"),), grpc.StatusCode.INVALID_ARGUMENT,
     "not standard base64"),
    # (over 8,192 characters: tests/unit/test_identity.py; gRPC's own 8 KiB header cap
    # refuses such a call at random before the server sees it)
], ids=["no-headers", "names-an-institution", "portal-headers", "garbage"])
def test_the_gateway_is_refused_and_audited(adapters, server_config, metadata, code, words):
    tx = refused(adapters.gateway, metadata, code, words)
    rec = audit_of(server_config, tx)
    assert (rec["result"], rec["institution"], rec["adapter"]) == (
        code.name, f"gateway:{GATEWAY}", f"gateway:{GATEWAY}")


# -- direct callers --------------------------------------------------------------------------


@pytest.mark.parametrize("metadata", [
    portal_for(), ((ON_BEHALF_OF_OPERATOR, "ops"), (PORTAL_USER, "u-1")),
    ((PORTAL_USER, "u-1"),), ((ON_BEHALF_OF_CERT, "QUJD"),)],
    ids=["institution", "operator", "user", "cert"])
def test_an_institution_certificate_cannot_act_for_anyone(adapters, server_config,
                                                          metadata):
    tx = refused(adapters.bank, metadata, grpc.StatusCode.PERMISSION_DENIED,
                 "only an adapter's certificate (kind portal or gateway)")
    rec = audit_of(server_config, tx)
    assert (rec["result"], rec["institution"], rec["channel"]) == (
        "PERMISSION_DENIED", "bank-a", "web_service")
    assert "adapter" not in rec and "user" not in rec


def test_an_operator_certificate_cannot_act_for_anyone(adapters, server_config):
    tx = refused(adapters.operator, portal_for(), grpc.StatusCode.PERMISSION_DENIED,
                 "this is a operator certificate (ops)", rpc=GET_GRANT,
                 request=admin_pb2.GetGrantRequest(institution="bank-a"))
    assert audit_of(server_config, tx)["institution"] == "operator:ops"


def test_a_direct_call_is_recorded_as_before(adapters, server_config, receipt_public_key):
    reply, raw = call(adapters.bank, VERIFY, _verify_request(), (("x-trace", "t-1"),))
    rec = audit_of(server_config, reply.transaction_id)
    assert (rec["institution"], rec["channel"]) == ("bank-a", "web_service")
    assert "adapter" not in rec and "user" not in rec
    check = verify_receipt(raw, _public_key(receipt_public_key))
    assert check.valid and check.payload.adapter == "" and check.payload.acting_user == ""


def _public_key(path):
    return serialization.load_pem_public_key(path.read_bytes())
