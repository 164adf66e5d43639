"""The configured gRPC listen address: is a nikgate serving there, and healthy?

Something accepting TCP there gets a real gRPC health call over mutual TLS (the server
takes no other kind of connection), presenting an adapter's certificate from the same
config (the gateway's, else the portal's) or the one given with --cert/--key. Nothing
listening is a WARN, not a FAIL: doctor also runs on a node before it starts, and says
whether the port is free for it.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from .result import Check, fail, ok, warn

TIMEOUT = 5.0


def _split(address: str) -> tuple[str, int] | None:
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def _dial_host(host: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def _port_free(host: str, port: int) -> str:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            return f"the port cannot be bound ({e.strerror})"
    return "the port is free"


def health(host: str, port: int, ca: Path, cert: Path, key: Path, server_name: str
           ) -> tuple[str | None, str]:
    """(the health status name, "") or (None, why the call failed)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    creds = grpc.ssl_channel_credentials(root_certificates=ca.read_bytes(),
                                         private_key=key.read_bytes(),
                                         certificate_chain=cert.read_bytes())
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    options = [("grpc.ssl_target_name_override", server_name)]
    with grpc.secure_channel(target, creds, options=options) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT)
        except grpc.RpcError as e:
            return None, f"{e.code().name}: {e.details()}"
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status), ""


def check(address: str, port_file: str, ca: Path, client: tuple[str, Path, Path] | None,
          server_name: str) -> Check:
    """`client` is (who, cert, key) to present, None when no certificate is at hand."""
    name = "port grpc"
    where = _split(address)
    if where is None:
        return fail(name, f"[server] address {address!r} is not host:port",
                    "fix [server] address in the config")
    host, port = where
    if port == 0 and port_file:
        try:
            # `nikgate serve` writes "PORT METRICS_PORT" there (server/supervisor.py)
            port = int(Path(port_file).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return warn(name, f"{address} lets the OS pick a port and {port_file} does "
                        "not name one yet", "start `nikgate serve`")
    if port == 0:
        return warn(name, f"{address} lets the OS pick a port (and no [server] port_file): "
                    "nothing to check", "set a fixed port, or a port_file")
    dial = _dial_host(host)
    shown = f"{dial}:{port}"
    try:
        socket.create_connection((dial, port), timeout=TIMEOUT).close()
    except OSError as e:
        if e.errno in (errno.ECONNREFUSED, errno.ECONNRESET):
            return warn(name, f"nothing listens on {shown} ({_port_free(host, port)})",
                        "start `nikgate serve --config FILE` if this node should serve")
        return fail(name, f"cannot reach {shown}: {e.strerror or e}",
                    "check the address and the firewall")
    if client is None:
        return warn(name, f"something listens on {shown}, but no client certificate is "
                    "at hand to ask its health over mTLS", "give --cert and --key")
    who, cert, key = client
    try:
        status, why = health(dial, port, ca, cert, key, server_name)
    except OSError as e:
        return warn(name, f"something listens on {shown}; cannot read the certificate "
                    f"to ask its health: {e}", "give --cert and --key")
    if status is None:
        return fail(name, f"something listens on {shown} but the mTLS health call as "
                    f"{who} failed ({why})", "is it a nikgate of this CA, and is its "
                    "certificate valid? see its log")
    if status != "SERVING":
        return fail(name, f"nikgate on {shown} answers health {status}",
                    "a part cannot serve (audit log, index, draining): see its log and "
                    "the nikgate_component_ok metric")
    return ok(name, f"nikgate serving on {shown} (health SERVING over mTLS as {who})")
