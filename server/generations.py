"""The generation service: a builder hands its sealed generations to replicas over HTTP(S).

`nikgate index serve-generations --index DIR --address HOST:PORT` answers, read-only:

    GET /v1/current                      the current generation's seal (engine/generations.py)
    GET /v1/generations/<id>/<file>      one file the seal names (data.mdb, keys.u64)

`nikgate index pull --from URL` (engine/replica.py) checks every byte against the seal, so
the service needs no integrity of its own; what it must guard is who reads: a generation is
the whole population index. On any address but loopback it refuses to start without TLS,
and with `--client-ca` it takes only clients whose certificate that CA signed (mutual TLS,
as the gRPC service does). A generation changed in place has no seal and is not offered
(409 with the reason). Files are streamed from the generation directory; an old generation
pruned while a replica copies it stays readable through the open file.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import shutil
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from nikgate.engine.generations import SEALED_FILES, read_seal
from nikgate.engine.layout import current_generation
from nikgate.engine.replica import unsealed_message
from nikgate.errors import IndexMissingError, InvalidInputError, NikgateError

log = logging.getLogger(__name__)

_GENERATION = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


class GenerationService:
    """A threaded HTTP(S) server over one index directory; start() returns the bound port."""

    def __init__(self, index_dir: str | os.PathLike, address: str = "127.0.0.1:0",
                 cert: str | None = None, key: str | None = None,
                 client_ca: str | None = None) -> None:
        host, _, port = address.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        if not port.isdigit():
            raise InvalidInputError(f"--address must be host:port, got {address!r}",
                                    field="address")
        if not cert and not _loopback(host):
            raise InvalidInputError(f"{host} is not a loopback address: serve generations "
                                    "there only with TLS (--cert, --key and --client-ca)",
                                    field="address")
        if (key or client_ca) and not cert:
            raise InvalidInputError("--key and --client-ca go with --cert (HTTPS)",
                                    field="cert")
        self.root = Path(index_dir)
        if not self.root.is_dir():   # before binding: a mistake must not hold the port
            raise IndexMissingError(f"no index directory at {self.root}")
        ctx = _tls_context(cert, key, client_ca) if cert else None
        try:
            self.httpd = ThreadingHTTPServer((host, int(port)), _handler(self.root))
        except OSError as e:
            raise InvalidInputError(f"cannot listen on {host}:{port} (--address): "
                                    f"{e.strerror}", field="address") from None
        self.httpd.daemon_threads = True
        if ctx is not None:
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> int:
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                       name="generation-service")
        self.thread.start()
        return self.port

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _tls_context(cert: str, key: str | None, client_ca: str | None) -> ssl.SSLContext:
    """The server's TLS context; InvalidInputError when a file cannot be used."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(cert, key)
        if client_ca:
            ctx.load_verify_locations(client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as e:   # missing, unreadable, not PEM, key not matching
        raise InvalidInputError(f"cannot use --cert {cert}, --key {key or '(in --cert)'}"
                                f"{f', --client-ca {client_ca}' if client_ca else ''}: "
                                f"{getattr(e, 'strerror', None) or e}", field="cert") from None
    return ctx


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _handler(root: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "nikgate-generations/1"

        def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base's name)
            log.info("%s %s", self.client_address[0], format % args)

        def _text(self, code: int, text: str) -> None:
            body = (text + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            parts = self.path.split("?")[0].strip("/").split("/")
            try:
                if parts == ["v1", "current"]:
                    self._current()
                elif (len(parts) == 4 and parts[:2] == ["v1", "generations"]
                        and _GENERATION.match(parts[2]) and parts[3] in SEALED_FILES):
                    self._file(parts[2], parts[3])
                else:
                    self._text(404, "GET /v1/current or /v1/generations/<id>/<file>")
            except NikgateError as e:
                self._text(503, str(e))

        def _current(self) -> None:
            generation = current_generation(root)
            found = read_seal(generation)
            if found is None:
                self._text(409, unsealed_message(generation))
                return
            body = json.dumps(found.to_json(), sort_keys=True).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _file(self, generation: str, name: str) -> None:
            gen_dir = root / "generations" / generation
            if read_seal(gen_dir) is None:   # only sealed generations leave the builder
                self._text(409 if gen_dir.exists() else 404,
                           f"generation {generation} is not published sealed here")
                return
            try:
                f = open(gen_dir / name, "rb")
            except FileNotFoundError:
                self._text(404, f"generation {generation} has no {name}")
                return
            with f:
                size = os.fstat(f.fileno()).st_size
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(size))
                self.end_headers()
                shutil.copyfileobj(f, self.wfile, 1 << 20)

    return Handler
