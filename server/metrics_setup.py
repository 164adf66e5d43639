"""Supervisor-side metrics plumbing, importable before the workers fork (no metric objects)."""

from __future__ import annotations

import os
from pathlib import Path


def prepare_directory(path: str) -> str:
    """Empty the multiprocess directory (stale files would double-count) and export it,
    so prometheus-client in the workers runs in multiprocess mode."""
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for f in directory.glob("*.db"):
        f.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return str(directory)


def serve_merged(address: str) -> int:
    """Serve every worker's metrics merged; returns the bound port."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    host, _, port = address.rpartition(":")
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    server, _thread = start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)
    return server.server_port


def worker_exited(pid: int) -> None:
    from prometheus_client import multiprocess

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)
