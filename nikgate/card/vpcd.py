"""An emulated card or SAM in a vsmartcard virtual reader (vpcd), so PC/SC sees it as real.

vpcd is a pcscd reader driver that listens on TCP (Debian: 127.0.0.1:35963 for
"Virtual PCD 00 00", 35964 for "00 01"; /etc/reader.conf.d/vpcd). A virtual card connects
to that port; while connected, the reader has a card in it. Both directions carry frames
of a 2-byte big-endian length and a payload. From vpcd, a 1-byte payload is a control
message (0 power off, 1 power on, 2 reset, 4 send the ATR); anything longer is a command
APDU, answered with the response APDU. Closing the connection takes the card out.

    python -m nikgate.card.vpcd card.json --port 35963     # until Ctrl-C
"""

from __future__ import annotations

import argparse
import logging
import socket
import struct
import threading
import time

from .reader import Emulator, load_emulator

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 35963
CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)       # Linux only


class VirtualCard:
    """Serve an emulator to vpcd from a background thread.

    `drop_after=N` takes the card out (closes the connection) when the (N+1)th APDU
    arrives, unanswered: the host sees the card leave in the middle of its read.
    """

    def __init__(self, emulator: Emulator, port: int = DEFAULT_PORT,
                 host: str = DEFAULT_HOST, *, drop_after: int | None = None) -> None:
        self.emulator = emulator
        self.host, self.port = host, port
        self.drop_after = drop_after
        self.apdus = 0
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> VirtualCard:
        """Connect to vpcd (retrying until it listens, up to `timeout`) and serve."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._sock = socket.create_connection((self.host, self.port), timeout=2)
                break
            except OSError as e:
                if time.monotonic() > deadline:
                    raise ConnectionError(f"vpcd is not listening on {self.host}:{self.port}"
                                          f" ({e}); is pcscd running with the vpcd driver?") from e
                time.sleep(0.05)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._serve, name=f"vpcd:{self.port}",
                                        daemon=True)
        self._thread.start()
        return self

    def remove(self) -> None:
        """Take the card out of the reader (close the connection)."""
        self._stop.set()
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def stop(self, timeout: float = 5.0) -> None:
        self.remove()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> VirtualCard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _recv_exact(self, n: int) -> bytes | None:
        buf = bytearray()
        while len(buf) < n:
            if self._stop.is_set() or self._sock is None:
                return None
            try:
                if _QUICKACK is not None:
                    # vpcd writes the length and the payload separately under Nagle: ACK
                    # at once or every APDU waits out a delayed ACK (about 40 ms).
                    self._sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
                chunk = self._sock.recv(n - len(buf))
            except TimeoutError:
                continue
            except OSError:
                return None
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def _send(self, payload: bytes) -> None:
        assert self._sock is not None
        self._sock.sendall(struct.pack(">H", len(payload)) + payload)

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                header = self._recv_exact(2)
                if header is None:
                    break
                (length,) = struct.unpack(">H", header)
                payload = self._recv_exact(length) if length else b""
                if payload is None:
                    break
                if length == 1:
                    self._control(payload[0])
                    continue
                if self.drop_after is not None and self.apdus >= self.drop_after:
                    log.info("vpcd:%d: card taken out after %d APDUs", self.port, self.apdus)
                    self.remove()
                    break
                self.apdus += 1
                self._send(self.emulator.process(payload))
        except BaseException as e:        # noqa: BLE001 - reported to the owner, not lost
            self.error = e
            log.exception("vpcd:%d: the virtual card failed", self.port)
        finally:
            self.remove()

    def _control(self, code: int) -> None:
        if code == CTRL_ATR:
            self._send(self.emulator.atr)
        elif code in (CTRL_ON, CTRL_RESET):
            self.emulator.power_on()
        elif code == CTRL_OFF:
            self.emulator.power_off()
        else:
            log.warning("vpcd:%d: unknown control message %d", self.port, code)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nikgate.card.vpcd",
                                description="Serve a card.json or sam.json to vpcd.")
    p.add_argument("image", help="card.json or sam.json")
    p.add_argument("--host", default=DEFAULT_HOST)
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help="the vpcd slot's port (35963 is 'Virtual PCD 00 00')")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    card = VirtualCard(load_emulator(args.image), args.port, args.host).start()
    print(f"{args.image} is in the vpcd reader on {args.host}:{args.port}; Ctrl-C removes it")
    try:
        while card.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        card.stop()
    return 1 if card.error else 0


if __name__ == "__main__":
    raise SystemExit(main())
