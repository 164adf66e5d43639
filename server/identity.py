"""Who is calling: the institution named by the client certificate, checked per call.

TLS (BoringSSL) has already verified the chain to the nikgate CA and the validity dates;
gRPC Python cannot check revocation, so each call's peer certificate is checked here
against the CRL (reloaded on change) and against the institutions nikgate knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import grpc

from nikgate.errors import PkiError, Unauthenticated

from .pki.runtime import CrlChecker, peer_identity


@dataclass(frozen=True, slots=True)
class Caller:
    """Who called. Operators and institutions are different kinds of identity even when
    their ids are spelled alike: only an institution has a grant, only an operator may
    administer, and the audit log names an operator as "operator:<id>"."""

    institution_id: str
    kind: str          # "institution", "operator" or "system"
    serial: int

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


class Authenticator:
    def __init__(self, crl: CrlChecker, registry: KnownInstitutions) -> None:
        self._crl = crl
        self._registry = registry

    def caller(self, context: grpc.aio.ServicerContext) -> Caller:
        """The verified caller, or Unauthenticated saying what is wrong."""
        pems = context.auth_context().get("x509_pem_cert")
        if not pems:
            raise Unauthenticated("no client certificate: nikgate accepts mutual TLS only")
        try:
            ident = peer_identity(next(iter(pems)))  # cached: one certificate a connection
        except PkiError as e:  # a CA-signed certificate without a nikgate identity
            raise Unauthenticated(f"client certificate names no nikgate identity: {e}") from None
        if self._crl.is_revoked(ident.serial):
            raise Unauthenticated(
                f"client certificate {ident.serial:x} is revoked; ask Dukcapil for a new one")
        if ident.kind != "operator" and self._registry.get(ident.institution_id) is None:
            raise Unauthenticated(
                f"institution {ident.institution_id!r} is not registered with nikgate")
        return Caller(ident.institution_id, ident.kind, ident.serial)
