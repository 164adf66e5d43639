"""haproxy.cfg for nikgate nodes: TCP mode, so mutual TLS runs end to end, with health
checks that follow each node's gRPC health through its HTTP /health.

HAProxy never sees inside the TLS session: each node does its own handshake with the
client, checks the client's certificate and its revocation, and signs its own receipts.
What HAProxy does see is each node's GET /health (server/metrics_setup.py: 200 while
every worker's gRPC health is SERVING, 503 when one cannot serve or the node drains), and
it sends new connections only to nodes that answer 200.

gRPC connections are long-lived HTTP/2 connections carrying many calls, so balancing is
per connection: `leastconn` spreads them, `on-marked-down shutdown-sessions` closes the
connections of a node marked down (their clients reconnect through HAProxy to a healthy
node; the client's retry policy repeats idempotent calls cut on the way), and the nodes'
`max_connection_age_seconds` rebalances connections after a node comes back.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Backend:
    """One node: where its gRPC port is and where its HTTP /health answers."""

    name: str           # the server's name in HAProxy (and in its stats): the node id
    address: str        # host:port of the node's gRPC port
    health: str         # host:port of the node's metrics port, which serves /health


@dataclass(frozen=True)
class Checks:
    """How HAProxy follows each node's health (defaults: down within ~1 s)."""

    interval_ms: int = 500      # one GET /health per node this often
    fall: int = 2               # this many failed checks in a row: down
    rise: int = 2               # this many good checks in a row: up again
    timeout_ms: int = 1000      # a check not answered in time failed


def render(backends: Sequence[Backend], bind: str, *, stats_socket: str | Path | None = None,
           checks: Checks | None = None, maxconn: int = 20_000,
           idle_timeout_s: int = 600) -> str:
    """The text of haproxy.cfg: `bind` (host:port) in front of `backends`.

    `stats_socket` adds an admin socket (`show stat`, `disable server`); `idle_timeout_s`
    bounds a silent connection (gRPC clients ping every 30-60 s and nodes send GOAWAY
    after their own idle timeout, 300 s by default, so the nodes close first)."""
    checks = checks or Checks()
    if not backends:
        raise ValueError("haproxy needs at least one node")
    names = [b.name for b in backends]
    if len(set(names)) != len(names):
        raise ValueError(f"node names must be unique: {names}")
    out = ["# Rendered by nikgate.cluster.haproxy for nikgate nodes (docs/deploy.md).",
           "global",
           f"    maxconn {maxconn}"]
    if stats_socket is not None:
        out.append(f"    stats socket {stats_socket} mode 600 level admin")
    out += [
        "",
        "defaults",
        "    mode tcp",
        "    option dontlognull",
        "    option redispatch          # a node that refuses the connection: try another",
        "    retries 2",
        "    timeout connect 2s",
        f"    timeout client {idle_timeout_s}s",
        f"    timeout server {idle_timeout_s}s",
        f"    timeout check {checks.timeout_ms}ms",
        "",
        "frontend nikgate",
        f"    bind {bind}",
        "    default_backend nikgate_nodes",
        "",
        "backend nikgate_nodes",
        "    balance leastconn",
        "    option httpchk",
        "    http-check send meth GET uri /health",
        "    http-check expect status 200",
        f"    default-server inter {checks.interval_ms}ms fall {checks.fall} "
        f"rise {checks.rise} on-marked-down shutdown-sessions",
    ]
    for b in backends:
        h_host, _, h_port = b.health.rpartition(":")
        out.append(f"    server {b.name} {b.address} check addr {h_host or '127.0.0.1'} "
                   f"port {h_port}")
    return "\n".join(out) + "\n"


def stats(socket_path: str | Path, timeout: float = 5.0) -> dict[str, dict[str, str]]:
    """The backend's servers as HAProxy sees them, from its admin socket: name -> the
    `show stat` columns (status UP/DOWN/MAINT, scur current sessions, stot total, ...)."""
    text = command(socket_path, "show stat", timeout)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        raise RuntimeError(f"unexpected answer from haproxy: {text[:200]!r}")
    header = lines[0][2:].split(",")
    out = {}
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=False))
        if row.get("pxname") == "nikgate_nodes" and row.get("svname") not in ("BACKEND",
                                                                               "FRONTEND"):
            out[row["svname"]] = row
    return out


def command(socket_path: str | Path, text: str, timeout: float = 5.0) -> str:
    """Send one command to HAProxy's admin socket and return its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(socket_path))
        s.sendall(text.encode() + b"\n")
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode()
