"""Supervisor-side metrics plumbing, importable before the workers fork (no metric objects).

The same HTTP port serves the node's health for a load balancer (HAProxy's `option
httpchk`, docs/deploy.md): GET /health is 200 while every live worker's gRPC health is
SERVING and 503 otherwise. Each worker's HealthBoard (server/health.py) writes its status
to `health-<pid>` in the multiprocess directory whenever it sets the gRPC health; the
supervisor removes the file when the worker exits.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from http.server import ThreadingHTTPServer
from pathlib import Path

HEALTH_PREFIX = "health-"
# certs-<pid>.json: the client certificates a worker accepted, for the supervisor's
# certificate-expiry gauge (server/pki/expiry.py)
CERTS_PREFIX = "certs-"
SERVING_TEXT = "SERVING"


def prepare_directory(path: str) -> str:
    """Empty the multiprocess directory (stale files would double-count) and export it,
    so prometheus-client in the workers runs in multiprocess mode."""
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for f in (*directory.glob("*.db"), *directory.glob(HEALTH_PREFIX + "*"),
              *directory.glob(CERTS_PREFIX + "*")):
        f.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return str(directory)


def serve_merged(address: str, collectors: Iterable[object] = ()) -> int:
    """Serve every worker's metrics merged (any path but /health), those of `collectors`
    (computed at scrape time in this process: the certificate-expiry gauge) and the node's
    health (GET /health); returns the bound port."""
    import threading

    from prometheus_client import CollectorRegistry, multiprocess
    from prometheus_client.exposition import MetricsHandler

    host, _, port = address.rpartition(":")
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    for collector in collectors:
        registry.register(collector)  # type: ignore[arg-type]

    class Handler(MetricsHandler.factory(registry)):  # type: ignore[misc]
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/health":
                return super().do_GET()
            ok, body = node_health()
            data = body.encode()
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass   # a balancer checks every few hundred ms: no line per check

    server = ThreadingHTTPServer((host.strip("[]") or "127.0.0.1", int(port)), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server.server_port


def health_file(pid: int | None = None) -> Path | None:
    """Where worker `pid` (default: this process) writes its gRPC health status, or None
    outside `nikgate serve` (no multiprocess directory: an in-process server)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return None
    return Path(directory) / f"{HEALTH_PREFIX}{os.getpid() if pid is None else pid}"


def certs_file(pid: int | None = None) -> Path | None:
    """Where worker `pid` (default: this process) writes the client certificates it
    accepted, or None outside `nikgate serve`."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return None
    return Path(directory) / f"{CERTS_PREFIX}{os.getpid() if pid is None else pid}.json"


def write_health(serving: bool) -> None:
    """Record this worker's gRPC health for the node's /health (atomic replace)."""
    path = health_file()
    if path is None:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(SERVING_TEXT if serving else "NOT_SERVING")
        os.replace(tmp, path)
    except OSError:
        pass   # the directory went away: the supervisor is stopping


def node_health() -> tuple[bool, str]:
    """(ok, text): ok when at least one worker reported and every live one is SERVING."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    states: list[tuple[int, str]] = []
    for f in Path(directory).glob(HEALTH_PREFIX + "*") if directory else ():
        try:
            pid = int(f.name[len(HEALTH_PREFIX):])
            state = f.read_text().strip()
        except (ValueError, OSError):
            continue
        if Path(f"/proc/{pid}").exists():   # a worker gone without worker_exited: ignore
            states.append((pid, state))
    ok = bool(states) and all(state == SERVING_TEXT for _, state in states)
    lines = [SERVING_TEXT if ok else "NOT_SERVING"]
    lines += [f"worker {pid} {state}" for pid, state in sorted(states)] or ["no worker ready"]
    return ok, "\n".join(lines) + "\n"


def worker_exited(pid: int) -> None:
    from prometheus_client import multiprocess

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)
        for path in (health_file(pid), certs_file(pid)):
            if path is not None:
                path.unlink(missing_ok=True)
