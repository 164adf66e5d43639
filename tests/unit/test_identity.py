"""server/identity.py without sockets: the on-behalf-of headers' limits, and the caller an
Authenticator resolves from a certificate and request metadata (the integration tests in
tests/integration/test_delegation.py do the same over real mutual TLS)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization

from nikgate.errors import InvalidInputError, PermissionDenied
from nikgate.server.identity import Authenticator, Caller
from nikgate.server.inputs import check_forwarded_cert, check_header_id, check_portal_user
from nikgate.server.pki import ca as pki
from nikgate.server.pki.runtime import CrlChecker


class Context:
    """What the Authenticator reads of a grpc.aio.ServicerContext."""

    def __init__(self, cert_pem: bytes, metadata=()) -> None:
        self._auth = {"x509_pem_cert": [cert_pem]}
        self._metadata = tuple(metadata)

    def auth_context(self):
        return self._auth

    def invocation_metadata(self):
        return self._metadata


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    ca = pki.init_ca(tmp_path_factory.mktemp("pki"))
    auth = Authenticator(CrlChecker(ca.layout.crl, ca.layout.ca_cert), {"bank-a": object()})
    return ca, auth


def _b64(issued) -> str:
    return base64.b64encode(issued.cert.public_bytes(serialization.Encoding.DER)).decode()


@pytest.mark.parametrize("user", ["u", "u-7f3a01", "siti@rsud.example", "a b", "x" * 128])
def test_portal_users_that_pass(user):
    assert check_portal_user(user) == user


@pytest.mark.parametrize("user", ["", "x" * 129, "caf\u00e9", "tab\there", "nl\n"])
def test_portal_users_that_do_not(user):
    with pytest.raises(InvalidInputError, match="1-128 printable ASCII") as e:
        check_portal_user(user)
    assert e.value.field == "nikgate-portal-user"
    if user:
        assert user not in str(e.value)   # never echoed: it may be an e-mail address


@pytest.mark.parametrize("ident", ["", "a", "Bank-A", "bank_a", "x" * 64, "-bank"])
def test_ids_in_headers_follow_the_id_rule(ident):
    with pytest.raises(InvalidInputError, match="2-63 characters"):
        check_header_id("nikgate-on-behalf-of", ident)
    assert check_header_id("nikgate-on-behalf-of", "bank-a") == "bank-a"


def test_a_forwarded_certificate_is_at_most_8192_characters():
    assert check_forwarded_cert("A" * 8192)
    for bad in ("", "A" * 8193):
        with pytest.raises(InvalidInputError, match="1-8,192 characters"):
            check_forwarded_cert(bad)


def test_a_direct_caller_is_made_once_per_certificate(world):
    ca, auth = world
    pem = pki.issue_client(ca, "bank-a", write=False).cert_pem
    first = auth.caller(Context(pem, (("user-agent", "grpc-python"),)))
    assert first == Caller("bank-a", "institution", first.serial)
    assert auth.caller(Context(pem)) is first   # cached: no Caller built per call


def test_an_over_long_forwarded_certificate_is_refused_under_the_gateway(world):
    ca, auth = world
    gateway = pki.issue_client(ca, "gw-1", kind="gateway", write=False)
    seen: list[Caller] = []
    with pytest.raises(InvalidInputError, match="1-8,192 characters"):
        auth.caller(Context(gateway.cert_pem, (("nikgate-on-behalf-of-cert", "A" * 9000),)),
                    seen.append)
    assert seen == [Caller("gw-1", "gateway", gateway.serial, "gateway:gw-1", "",
                           "web_service")]


def test_the_gateway_verifies_a_forwarded_certificate_once(world):
    ca, auth = world
    gateway = pki.issue_client(ca, "gw-2", kind="gateway", write=False)
    bank = pki.issue_client(ca, "bank-a", write=False)
    before = auth._forwarded.cached
    for _ in range(3):
        caller = auth.caller(Context(gateway.cert_pem,
                                     (("nikgate-on-behalf-of-cert", _b64(bank)),)))
        assert caller == Caller("bank-a", "institution", bank.serial, "gateway:gw-2", "",
                                "web_service")
    assert auth._forwarded.cached == before + 1


def test_an_institution_naming_a_user_is_refused_under_itself(world):
    ca, auth = world
    bank = pki.issue_client(ca, "bank-a", write=False)
    seen: list[Caller] = []
    with pytest.raises(PermissionDenied, match="only an adapter's certificate"):
        auth.caller(Context(bank.cert_pem, (("nikgate-portal-user", "u-1"),)), seen.append)
    assert seen == [Caller("bank-a", "institution", bank.serial)]
