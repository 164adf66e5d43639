"""The PKI directory's layout and the naming rules a client certificate follows; shared by
the offline CA (ca.py), which writes both, and the worker's checks (runtime.py), which read
them.

A client certificate names its holder in a URI SAN ``nikgate:<kind>:<id>`` (kind is
``institution``, ``operator``, or an adapter: ``portal`` or ``gateway``); the server trusts
that SAN, the subject CN is for humans. An adapter is a thin client (the web portal, the
JSON gateway) that may act on behalf of someone else (docs/pki.md, "Adapters").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ADAPTER_KINDS", "INSTITUTION_ID_RE", "KINDS", "SAN_PREFIX", "Layout", "serial_hex"]

# Adapters act on behalf of institutions or operators; they never hold a grant themselves.
ADAPTER_KINDS = ("portal", "gateway")
KINDS = ("institution", "operator", *ADAPTER_KINDS)
SAN_PREFIX = "nikgate"
INSTITUTION_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


@dataclass(frozen=True)
class Layout:
    """The paths of one PKI directory."""

    root: Path

    @property
    def ca_dir(self) -> Path:
        return self.root / "ca"

    @property
    def ca_key(self) -> Path:
        return self.ca_dir / "ca.key"

    @property
    def ca_cert(self) -> Path:
        return self.ca_dir / "ca.crt"

    @property
    def crl(self) -> Path:
        return self.ca_dir / "crl.pem"

    @property
    def index(self) -> Path:
        return self.ca_dir / "index.json"

    @property
    def lock(self) -> Path:
        return self.ca_dir / ".lock"

    @property
    def certs_dir(self) -> Path:
        return self.ca_dir / "certs"

    @property
    def server_dir(self) -> Path:
        return self.root / "server"

    @property
    def server_cert(self) -> Path:
        return self.server_dir / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.server_dir / "server.key"

    @property
    def issued_dir(self) -> Path:
        return self.root / "issued"

    def client_paths(self, kind: str, ident: str) -> tuple[Path, Path]:
        # "." cannot occur in an id, so "<id>.<kind>" never collides with an institution.
        stem = ident if kind == "institution" else f"{ident}.{kind}"
        return self.issued_dir / f"{stem}.crt", self.issued_dir / f"{stem}.key"


def serial_hex(serial: int) -> str:
    """A serial as `nikgate pki list` and `openssl x509 -serial` print it (hex)."""
    return format(serial, "X")

