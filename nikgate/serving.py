"""What the HTTPS adapters (the portal, the JSON gateway) share to run as processes: a
listening socket bound before the server starts (so port 0 works and the bound port can be
reported), and stopping such a process politely, then firmly."""

from __future__ import annotations

import socket
import subprocess

from nikgate.errors import InvalidInputError


def listening_socket(address: str, *, field: str, backlog: int = 2048) -> socket.socket:
    """A non-blocking listening TCP socket on host:port ([v6]:port too; port 0 picks one);
    InvalidInputError naming `field` when the address is malformed or taken."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit():
        raise InvalidInputError(f"{field} must be host:port, got {address!r}", field=field)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, int(port)))
    except OSError as e:
        sock.close()
        raise InvalidInputError(f"cannot listen on {address} ({field}): {e.strerror}",
                                field=field) from None
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def stop_process(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
