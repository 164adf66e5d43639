"""Prometheus metrics, shared by all worker processes (prometheus-client multiprocess mode).

The supervisor sets PROMETHEUS_MULTIPROC_DIR before the workers start and serves the
merged view; each worker only records.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)

CALLS = Counter("nikgate_calls", "Calls by method, status and institution",
                ["method", "code", "institution"])
LATENCY = Histogram("nikgate_call_seconds", "Call latency by method", ["method"],
                    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5))
BATCH_ITEMS = Histogram("nikgate_batch_items", "Items per batch message", ["method"],
                        buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000))
INDEX_AGE = Gauge("nikgate_index_age_seconds", "Age of the served index generation",
                  multiprocess_mode="max")
IN_FLIGHT = Gauge("nikgate_in_flight", "Calls in flight", multiprocess_mode="livesum")


def record_call(method: str, code: str, institution: str, seconds: float, items: int,
                batched: bool) -> None:
    CALLS.labels(method, code, institution).inc()
    LATENCY.labels(method).observe(seconds)
    if batched:
        BATCH_ITEMS.labels(method).observe(items)


def set_index_built_at(epoch_seconds: float) -> None:
    INDEX_AGE.set(max(0.0, time.time() - epoch_seconds))


def serve_merged(address: str) -> int:
    """Serve every worker's metrics merged, from the supervisor; returns the bound port."""
    host, _, port = address.rpartition(":")
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    server, _thread = start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)
    return server.server_port


def prepare_directory(path: str) -> str:
    """Empty the multiprocess directory (stale files would double-count) and export it."""
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for f in directory.glob("*.db"):
        f.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return str(directory)


def worker_exited(pid: int) -> None:
    multiprocess.mark_process_dead(pid)
