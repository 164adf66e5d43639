"""Who is calling: the identity a client certificate names, checked per call, and whom an
adapter acts for.

TLS (BoringSSL) has already verified the chain to the nikgate CA and the validity dates;
gRPC Python cannot check revocation, so each call's peer certificate is checked here
against the CRL (reloaded on change) and against the institutions nikgate knows.

An adapter (certificate kind "portal" or "gateway", docs/pki.md) is a thin client that
acts on behalf of someone it names in request metadata, on every call:

    portal   nikgate-on-behalf-of: <institution id>           channel "portal"
             or nikgate-on-behalf-of-operator: <operator id>
             and nikgate-portal-user: <the portal user>
    gateway  nikgate-on-behalf-of-cert: <base64 DER of the     channel "web_service"
             certificate the institution presented to it>

The caller is then that institution (or operator) with `adapter` and `user` attached; its
grant, quota and audit record are the institution's. A forwarded certificate is checked
here as TLS checks a direct peer's (CA, validity, client certificate: pki/runtime.py
ForwardedCerts, cached) and against the CRL and the known institutions, like a direct
peer. Any other certificate that sends these headers, an adapter that sends none, or the
other adapter's, is refused; such a refusal is audited under the certificate that made the
claim (the adapter with the user it named). A direct call pays one scan of its few
metadata keys, nothing more.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import grpc

from nikgate.errors import InvalidInputError, PermissionDenied, PkiError, Unauthenticated

from .inputs import check_forwarded_cert, check_header_id, check_portal_user
from .pki.expiry import Sightings
from .pki.runtime import CrlChecker, ForwardedCerts, PeerIdentity, peer_identity

ON_BEHALF_OF = "nikgate-on-behalf-of"
ON_BEHALF_OF_OPERATOR = "nikgate-on-behalf-of-operator"
ON_BEHALF_OF_CERT = "nikgate-on-behalf-of-cert"
PORTAL_USER = "nikgate-portal-user"
HEADERS = frozenset({ON_BEHALF_OF, ON_BEHALF_OF_OPERATOR, ON_BEHALF_OF_CERT, PORTAL_USER})
# The adapter kinds, the headers each may send, and the channel its calls are served under
# (a route with a channel of its own, the card reader's, keeps it).
ADAPTER_HEADERS = {"portal": frozenset({ON_BEHALF_OF, ON_BEHALF_OF_OPERATOR, PORTAL_USER}),
                   "gateway": frozenset({ON_BEHALF_OF_CERT})}
ADAPTER_CHANNEL = {"portal": "portal", "gateway": "web_service"}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who called. Operators and institutions are different kinds of identity even when
    their ids are spelled alike: only an institution has a grant, only an operator may
    administer, and the audit log names an operator as "operator:<id>".

    A call an adapter makes on behalf of an institution or operator is that institution's
    or operator's, with `adapter` ("portal:<id>", "gateway:<id>"), `user` (the portal user)
    and `channel` (the channel it is served under) set; direct calls leave them empty.
    `serial` is the certificate that authenticated the principal: the forwarded one for
    the gateway, the adapter's own for the portal.
    """

    institution_id: str
    kind: str          # "institution", "operator", "system"; "portal"/"gateway" on refusals
    serial: int
    adapter: str = ""
    user: str = ""
    channel: str = ""

    @property
    def is_institution(self) -> bool:
        return self.kind == "institution"

    @property
    def principal(self) -> str:
        """The id the audit log and per-caller budgets use: kinds never collide."""
        return self.institution_id if self.kind == "institution" else (
            f"{self.kind}:{self.institution_id}")


class KnownInstitutions(Protocol):
    def get(self, institution_id: str) -> object | None: ...


# Told who made a refused claim before the refusal is raised, so that it is audited under
# them (calls.py: CallRecord.attribute).
Attribute = Callable[[Caller], None]


@functools.lru_cache(maxsize=4096)
def _identity(cert_pem: bytes) -> tuple[PeerIdentity, Caller]:
    """The identity a peer's PEM names and its Caller for a direct call, made once per
    certificate (building the frozen Caller costs more than this lookup); PkiError if
    unusable (not cached)."""
    ident = peer_identity(cert_pem)
    return ident, Caller(ident.institution_id, ident.kind, ident.serial)


class Authenticator:
    def __init__(self, crl: CrlChecker, registry: KnownInstitutions,
                 forwarded: ForwardedCerts | None = None,
                 sightings: Sightings | None = None) -> None:
        self._crl = crl
        self._registry = registry
        self._sightings = sightings   # accepted certificates, for the expiry gauge
        self._forwarded = forwarded if forwarded is not None else ForwardedCerts(crl.ca)

    def caller(self, context: grpc.aio.ServicerContext,
               attribute: Attribute | None = None) -> Caller:
        """The verified caller (for an adapter: whom it acts for), or the error saying what
        is wrong: Unauthenticated, PermissionDenied, InvalidInputError."""
        pems = context.auth_context().get("x509_pem_cert")
        if not pems:
            raise Unauthenticated("no client certificate: nikgate accepts mutual TLS only")
        pem = next(iter(pems))
        try:
            ident, direct = _identity(pem)   # cached: one a connection
        except PkiError as e:  # a CA-signed certificate without a nikgate identity
            raise Unauthenticated(f"client certificate names no nikgate identity: {e}") from None
        if self._crl.is_revoked(ident.serial):
            raise Unauthenticated(
                f"client certificate {ident.serial:x} is revoked; ask Dukcapil for a new one")
        if ident.kind == "institution" and self._registry.get(ident.institution_id) is None:
            raise Unauthenticated(
                f"institution {ident.institution_id!r} is not registered with nikgate")
        if self._sightings is not None:   # the expiry gauge: a dict lookup once known
            self._sightings.seen(ident, pem)
        metadata = context.invocation_metadata()
        if ident.kind in ADAPTER_HEADERS:
            return self._acting_for(ident, metadata or (), attribute)
        if metadata:
            for key, _ in metadata:
                if key in HEADERS:
                    if attribute is not None:
                        attribute(Caller(ident.institution_id, ident.kind, ident.serial))
                    raise PermissionDenied(
                        f"{key}: only an adapter's certificate (kind portal or gateway) may "
                        f"act on behalf of someone; this is a {ident.kind} certificate "
                        f"({ident.institution_id}): call without on-behalf-of headers")
        return direct

    def _acting_for(self, adapter: PeerIdentity, metadata: Iterable[tuple[str, object]],
                    attribute: Attribute | None) -> Caller:
        """Whom an adapter acts for, from its headers."""
        kind = adapter.kind
        name = f"{kind}:{adapter.institution_id}"
        channel = ADAPTER_CHANNEL[kind]
        headers: dict[str, str] = {}
        as_itself = Caller(adapter.institution_id, kind, adapter.serial, name, "", channel)

        def refuse(error: Exception, who: Caller = as_itself) -> Exception:
            if attribute is not None:
                attribute(who)
            return error

        for key, value in metadata:
            if key in HEADERS:
                if key in headers:
                    raise refuse(InvalidInputError(f"{key} was sent twice: send it once",
                                                   field=key))
                headers[key] = str(value)
        stray = sorted(headers.keys() - ADAPTER_HEADERS[kind])
        if stray:
            raise refuse(PermissionDenied(
                f"a {kind} adapter cannot send {', '.join(stray)}: "
                + ("only the gateway forwards certificates (nikgate-on-behalf-of-cert)"
                   if kind == "portal" else
                   "the gateway acts only for the certificate it was presented "
                   "(nikgate-on-behalf-of-cert)")))
        if kind == "gateway":
            if ON_BEHALF_OF_CERT not in headers:
                raise refuse(PermissionDenied(
                    f"an adapter acts only on behalf of someone: the gateway {name} must send "
                    "nikgate-on-behalf-of-cert with the certificate its caller presented"))
            return self._forwarded_caller(headers[ON_BEHALF_OF_CERT], name, refuse)

        targets = [h for h in (ON_BEHALF_OF, ON_BEHALF_OF_OPERATOR) if h in headers]
        if not targets:
            raise refuse(PermissionDenied(
                f"an adapter acts only on behalf of someone: the portal {name} must send "
                "nikgate-on-behalf-of (an institution id) or nikgate-on-behalf-of-operator "
                "(an operator id), and nikgate-portal-user"))
        if len(targets) > 1:
            raise refuse(InvalidInputError(
                "send one of nikgate-on-behalf-of and nikgate-on-behalf-of-operator, not both",
                field=ON_BEHALF_OF))
        if PORTAL_USER not in headers:
            raise refuse(InvalidInputError(
                "nikgate-portal-user is required: the portal names the user it acts for",
                field=PORTAL_USER))
        try:
            user = check_portal_user(headers[PORTAL_USER])
        except InvalidInputError as e:
            raise refuse(e) from None
        named = Caller(adapter.institution_id, kind, adapter.serial, name, user, channel)
        header = targets[0]
        try:
            target = check_header_id(header, headers[header])
        except InvalidInputError as e:
            raise refuse(e, named) from None
        if header == ON_BEHALF_OF_OPERATOR:
            return Caller(target, "operator", adapter.serial, name, user, channel)
        if self._registry.get(target) is None:
            raise refuse(PermissionDenied(
                f"nikgate-on-behalf-of names institution {target!r}, which is not registered "
                "with nikgate: check the portal user's institution"), named)
        return Caller(target, "institution", adapter.serial, name, user, channel)

    def _forwarded_caller(self, cert_b64: str, name: str,
                          refuse: Callable[[Exception], Exception]) -> Caller:
        """The institution whose certificate the gateway forwards, checked like a peer's."""
        try:
            ident = self._forwarded.identity(check_forwarded_cert(cert_b64))
        except InvalidInputError as e:
            raise refuse(e) from None
        except PkiError as e:
            raise refuse(Unauthenticated(
                f"the certificate the gateway forwarded is not accepted: {e}")) from None
        if self._crl.is_revoked(ident.serial):
            raise refuse(Unauthenticated(
                f"the certificate the gateway forwarded ({ident.serial:x}) is revoked; its "
                "holder must ask Dukcapil for a new one"))
        if ident.kind != "institution":
            raise refuse(PermissionDenied(
                f"the gateway acts only for institutions; the certificate it forwarded is a "
                f"{ident.kind} certificate ({ident.institution_id})"))
        if self._registry.get(ident.institution_id) is None:
            raise refuse(PermissionDenied(
                f"the certificate the gateway forwarded names institution "
                f"{ident.institution_id!r}, which is not registered with nikgate"))
        if self._sightings is not None:
            self._sightings.seen(ident, cert_b64)
        return Caller(ident.institution_id, "institution", ident.serial, name, "",
                      ADAPTER_CHANNEL["gateway"])
