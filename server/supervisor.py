"""`nikgate serve`: N worker processes sharing one port, watched by a supervisor.

The supervisor checks the port is free (SO_REUSEPORT would otherwise let a second
nikgate silently share it), then forks the workers before any gRPC object exists in this
process; each worker opens the index read-only and runs its own grpc.aio server on uvloop
with SO_REUSEPORT, and the kernel spreads connections across them. A worker that dies is
restarted (with a back-off if it keeps dying). SIGTERM/SIGINT: the workers set health to
NOT_SERVING, drain calls for the grace period and exit; stragglers are killed. SIGHUP
is forwarded to every worker, which looks for a newly published index generation at once
(server/index_holder.py; workers also look every `[index] reload_check_seconds`).
The supervisor raises the file-descriptor limit to the hard limit first (workers inherit
it); each worker runs a shedding thread that keeps its connections under the cap.

This module must not import grpc: workers import it after the fork.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

from . import limits
from .config import Config

log = logging.getLogger(__name__)

RESTART_BACKOFF_MAX = 5.0
EXPIRY_CHECK_SECONDS = 60.0   # certificate-expiry warnings (server/pki/expiry.py)


def reserve_port(address: str) -> tuple[str, int]:
    """Check that host:port is free (binding without SO_REUSEPORT) and return it; port 0
    picks a free one."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # SO_REUSEADDR as the workers' own listeners have it: a node restarting on its port
        # while its old connections sit in TIME_WAIT is not "another server running there"
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, int(port)))
        except OSError as e:
            raise OSError(f"cannot listen on {host}:{port}: {e.strerror}; is another server "
                          "running there?") from None
        return host, s.getsockname()[1]


def _worker_main(config: Config, host: str, port: int, worker_id: int) -> None:
    """Runs in the forked child: its own event loop and gRPC server."""
    import asyncio

    import uvloop

    from . import logs
    from .app import build_server
    from .shedding import Shedder

    logs.configure(config.logging.level)
    stop = asyncio.Event()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        cfg = config.with_overrides(server={"address": f"{host}:{port}"})
        running = await build_server(cfg, port=port, worker_id=worker_id)
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(
            running.serving.reload(force=True)))
        shedder = Shedder(running.port, limits.connection_caps(cfg.server.max_connections)[0])
        shedder.start()
        # Everything allocated so far lives as long as the worker: keep it out of the
        # collector's generations, so full collections (tens of ms with ~50k tracked
        # objects) stop landing on calls' p99.
        gc.collect()
        gc.freeze()
        log.info("worker ready", extra={"worker": worker_id, "pid": os.getpid(), "port": port})
        await stop.wait()
        log.info("worker draining", extra={"worker": worker_id})
        shedder.stop()
        await running.stop(config.server.grace_seconds)

    uvloop.run(run())


class Supervisor:
    def __init__(self, config: Config, on_ready=None) -> None:
        self.config = config
        self.on_ready = on_ready  # called with (host, port, metrics_port) once serving
        self.workers: dict[int, int] = {}     # pid -> worker id
        self.started: dict[int, float] = {}   # worker id -> last start time
        self.failures: dict[int, int] = {}
        self.stopping = False

    def _spawn(self, worker_id: int, host: str, port: int) -> None:
        pid = os.fork()
        if pid == 0:  # child
            code = 0
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.signal(signal.SIGHUP, signal.SIG_IGN)   # until the worker serves
                _exit_with_parent()
                _worker_main(self.config, host, port, worker_id)
            except BaseException:
                logging.getLogger(__name__).exception("worker failed")
                code = 1
            finally:
                os._exit(code)
        self.workers[pid] = worker_id
        self.started[worker_id] = time.monotonic()

    def run(self) -> int:
        cfg = self.config
        host, port = reserve_port(cfg.server.address)
        soft, hard = limits.raise_nofile_limit()
        caps = limits.connection_caps(cfg.server.max_connections)
        log.info("file-descriptor limit raised", extra={
            "soft": soft, "hard": hard, "connections_per_worker": caps[0],
            "accepted_per_worker": caps[1]})
        metrics_dir = cfg.metrics.directory or tempfile.mkdtemp(prefix="nikgate-metrics-")
        # prometheus-client reads this when its metrics module is first imported, in the
        # workers after the fork; the supervisor serves the merged view.
        from . import metrics_setup
        metrics_setup.prepare_directory(metrics_dir)
        # After prepare_directory: expiry imports prometheus_client only when scraped.
        from .pki.expiry import ExpiryWatch
        self.expiry = ExpiryWatch([("ca", cfg.tls.ca), ("server", cfg.tls.cert)],
                                  metrics_dir)
        self._check_expiry()   # at start-up: the held certificates' warnings, if due
        metrics_port = None
        if cfg.metrics.address:
            metrics_port = metrics_setup.serve_merged(cfg.metrics.address, [self.expiry])
        count = cfg.server.workers or os.cpu_count() or 1
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        for worker_id in range(count):
            self._spawn(worker_id, host, port)
        log.info("supervisor started", extra={"workers": count, "port": port,
                                              "metrics_port": metrics_port})
        if wait_listening(host, port, timeout=60):
            if cfg.server.port_file:
                tmp = Path(cfg.server.port_file + ".tmp")
                tmp.write_text(f"{port}\n{metrics_port or 0}\n")
                os.replace(tmp, cfg.server.port_file)
            if self.on_ready is not None:
                self.on_ready(host, port, metrics_port)
        else:
            log.error("workers did not start listening within 60 s")
        return self._watch(host, port)

    def _check_expiry(self) -> None:
        """Warn of certificates crossing 30, 7 or 1 days left (each scrape checks too)."""
        self._expiry_checked = time.monotonic()
        try:
            self.expiry.check()
        except Exception:   # a gauge problem must never stop the supervisor
            log.exception("certificate expiry check failed")

    def _on_stop(self, signum, frame) -> None:
        if not self.stopping:
            self.stopping = True
            log.info("stopping: draining workers", extra={"signal": signum})
            for pid in list(self.workers):
                _signal(pid, signal.SIGTERM)

    def _on_reload(self, signum, frame) -> None:
        log.info("SIGHUP: workers look for a new index generation")
        for pid in list(self.workers):
            _signal(pid, signal.SIGHUP)

    def _watch(self, host: str, port: int) -> int:
        from . import metrics_setup

        deadline = None
        while self.workers:
            if self.stopping and deadline is None:
                deadline = time.monotonic() + self.config.server.grace_seconds + 5
            if deadline is not None and time.monotonic() > deadline:
                for pid in list(self.workers):
                    _signal(pid, signal.SIGKILL)
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                if time.monotonic() - self._expiry_checked >= EXPIRY_CHECK_SECONDS:
                    self._check_expiry()
                time.sleep(0.05)
                continue
            worker_id = self.workers.pop(pid, None)
            if worker_id is None:
                continue
            metrics_setup.worker_exited(pid)
            if self.stopping:
                continue
            how = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
                   else f"exit {os.WEXITSTATUS(status)}")
            uptime = time.monotonic() - self.started[worker_id]
            self.failures[worker_id] = 0 if uptime > 30 else self.failures.get(worker_id, 0) + 1
            delay = min(RESTART_BACKOFF_MAX, 0.1 * (2 ** self.failures[worker_id]) - 0.1)
            log.warning("worker died; restarting", extra={"worker": worker_id, "pid": pid,
                                                          "how": how, "delay_s": delay})
            time.sleep(delay)
            self._spawn(worker_id, host, port)
        log.info("supervisor stopped")
        return 0


def wait_listening(host: str, port: int, timeout: float) -> bool:
    """Poll until something accepts TCP connections on host:port (no gRPC here)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _exit_with_parent() -> None:
    """Ask the kernel to SIGTERM this worker when the supervisor dies (even by SIGKILL),
    so no orphaned worker keeps serving an old configuration."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the supervisor's shutdown still works
        pass
    if os.getppid() == 1:  # the supervisor died before prctl took effect
        os._exit(0)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def serve(config: Config, on_ready=None) -> int:
    from . import logs

    logs.configure(config.logging.level)
    try:
        return Supervisor(config, on_ready).run()
    except OSError as e:
        log.error(str(e))
        print(f"nikgate: {e}", file=sys.stderr)
        return 1
