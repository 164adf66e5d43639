"""Where a server is and which certificate to present: from paths or connection.json."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import grpc

# Retry only what is safe: UNAVAILABLE means the call did not reach a handler (connection
# refused or reset, worker restarting); anything else is an answer and is not repeated.
SERVICE_CONFIG = json.dumps({
    "methodConfig": [{
        "name": [{"service": "nikgate.v1.Verification"}, {"service": "nikgate.v1.Lookup"}],
        "retryPolicy": {
            "maxAttempts": 3,
            "initialBackoff": "0.05s",
            "maxBackoff": "0.5s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        },
    }],
})
MiB = 1 << 20


@dataclass(frozen=True)
class Connection:
    """A server address, the CA to trust, and this institution's certificate and key."""

    address: str
    ca: Path
    cert: Path
    key: Path
    receipt_public_key: Path | None = None
    server_name: str = "localhost"   # the name the server certificate carries

    @classmethod
    def from_file(cls, path: str | os.PathLike, institution: str) -> Connection:
        """Read a connection.json (as `nikgate demo` writes) for one institution."""
        path = Path(path)
        data = json.loads(path.read_text())
        base = path.parent
        known = data.get("institutions", {})
        if institution not in known:
            raise KeyError(f"{path} has no certificate for {institution!r}; it has: "
                           f"{', '.join(sorted(known))}")
        entry = known[institution]

        def rel(p: str) -> Path:
            return Path(p) if os.path.isabs(p) else base / p

        return cls(
            address=data["address"],
            ca=rel(data["ca"]),
            cert=rel(entry["cert"]),
            key=rel(entry["key"]),
            receipt_public_key=rel(data["receipt_public_key"])
            if data.get("receipt_public_key") else None,
            server_name=data.get("server_name", "localhost"),
        )

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca.read_bytes(),
            private_key=self.key.read_bytes(),
            certificate_chain=self.cert.read_bytes())

    def options(self, max_message_bytes: int = 16 * MiB) -> list[tuple[str, object]]:
        return [
            ("grpc.ssl_target_name_override", self.server_name),
            ("grpc.default_authority", self.server_name),
            ("grpc.service_config", SERVICE_CONFIG),
            ("grpc.enable_retries", 1),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.keepalive_time_ms", 30_000),
        ]

    def channel(self) -> grpc.Channel:
        return grpc.secure_channel(self.address, self.credentials(), options=self.options())

    def aio_channel(self) -> grpc.aio.Channel:
        return grpc.aio.secure_channel(self.address, self.credentials(),
                                       options=self.options())
