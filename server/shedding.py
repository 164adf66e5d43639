"""Connection shedding: above its cap, a worker closes its most idle TCP connections first.

grpc core can only refuse connections beyond `grpc.max_allowed_incoming_connections`
(accepted, then closed at once); it never closes an old connection to make room. A flood
of sockets that never handshake would keep such a cap full and refuse every real client
until the handshake timeout freed the slots, only for the flood to take them again.

So grpc gets a hard cap well above the configured one (server/limits.py), and this thread
enforces the configured one the other way round. Every `interval` seconds it counts the
worker's descriptors (one listdir of /proc/self/fd); when that passes the cap it reads
TCP_INFO for each connection to the worker's port and shuts down, in this order,
connections the peer already closed, connections whose peer never sent a byte (oldest
first), then the longest idle (since data last went either way), until `shed_to` of the
cap remain. While it is shedding it looks again after `busy_interval`. A real client
that has sent its TLS ClientHello is never shed before a silent socket; one with calls
running is shed only after every quieter connection.

shutdown() on a duplicate of grpc's descriptor ends the connection without taking the
descriptor from under grpc: grpc reads end-of-file and closes it in its own time.
Linux only (/proc/self/fd, TCP_INFO); elsewhere the hard cap alone applies.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

# struct tcp_info (linux/tcp.h): u8 tcpi_state at 0; u32 tcpi_last_data_sent at 44 and
# tcpi_last_data_recv at 52 (ms; since the connection opened if none yet); u64
# tcpi_bytes_received at 128 (Linux >= 4.1).
_TCP_INFO_LEN = 136
_TCP_CLOSE_WAIT = 8
_LOG_EVERY = 5.0


@dataclass
class _Conn:
    sock: socket.socket
    closing: bool  # the peer has already closed its side
    silent: bool   # the peer never sent a byte
    idle_ms: int   # since data last went either way

    def shed_order(self) -> tuple[bool, bool, int]:
        return self.closing, self.silent, self.idle_ms


class Shedder:
    """Keeps one worker's connections to `port` under `cap`, closing the most idle first."""

    def __init__(self, port: int, cap: int, *, interval: float = 0.2,
                 busy_interval: float = 0.02, shed_to: float = 0.9) -> None:
        self.port = port
        self.cap = cap
        self.interval = interval
        self.busy_interval = busy_interval
        self.low = min(cap - 1, int(cap * shed_to))
        self.shed_total = 0
        self._unlogged = 0
        self._logged_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nikgate-shedder", daemon=True)

    @staticmethod
    def supported() -> bool:
        return os.path.isdir("/proc/self/fd") and hasattr(socket, "TCP_INFO")

    def start(self) -> Shedder:
        if self.supported():
            self._thread.start()
        else:
            log.warning("connection shedding needs Linux; only the connection cap applies")
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        wait = self.interval
        while not self._stop.wait(wait):
            wait = self.interval
            try:
                # Descriptors >= connections, so this cheap count never starts a scan late.
                if len(os.listdir("/proc/self/fd")) > self.cap and self.shed_once():
                    wait = self.busy_interval
            except Exception:  # the shedder must outlive any one bad scan
                log.exception("connection shedding scan failed; will retry")

    def connections(self) -> list[_Conn]:
        """The worker's established connections to its port, each on a duplicate
        descriptor the caller must close."""
        found = []
        seen = set()  # socket inodes: a number in the listing may be reused by our own dup
        for name in os.listdir("/proc/self/fd"):
            try:
                link = os.readlink(f"/proc/self/fd/{name}")
                if not link.startswith("socket:") or link in seen:
                    continue
                sock = socket.socket(fileno=os.dup(int(name)))
            except OSError:  # closed meanwhile, or not ours to read
                continue
            seen.add(link)
            conn = _inspect(sock, self.port)
            if conn is None:
                sock.close()
            else:
                found.append(conn)
        return found

    def shed_once(self) -> int:
        """Over the cap, shut down connections in shed order down to `low`; returns how
        many."""
        conns = self.connections()
        try:
            if len(conns) <= self.cap:
                return 0
            excess = len(conns) - self.low
            conns.sort(key=_Conn.shed_order, reverse=True)
            shed = 0
            for conn in conns[:excess]:
                try:
                    conn.sock.shutdown(socket.SHUT_RDWR)
                    shed += 1
                except OSError:  # already gone
                    pass
        finally:
            for conn in conns:
                conn.sock.close()  # our duplicate only; grpc still owns its descriptor
        self.shed_total += shed
        self._unlogged += shed
        now = time.monotonic()
        if now - self._logged_at >= _LOG_EVERY:
            log.warning("connections over the cap: most idle shed",
                        extra={"shed": self._unlogged, "shed_total": self.shed_total,
                               "connections": len(conns), "cap": self.cap, "port": self.port})
            self._logged_at, self._unlogged = now, 0
        return shed


def _inspect(sock: socket.socket, port: int) -> _Conn | None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
        return None
    try:
        if sock.getsockname()[1] != port:
            return None
        sock.getpeername()  # the listening socket has no peer
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
    except OSError:
        return None
    sent_ms, recv_ms = struct.unpack_from("I4xI", info, 44)
    silent = len(info) >= 136 and struct.unpack_from("Q", info, 128)[0] == 0
    return _Conn(sock, info[0] == _TCP_CLOSE_WAIT, silent, min(sent_ms, recv_ms))
