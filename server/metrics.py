"""Prometheus metrics recorded by each worker (prometheus-client multiprocess mode).

Under `nikgate serve` the supervisor exports PROMETHEUS_MULTIPROC_DIR before the workers
fork and serves the merged view (metrics_setup.py); in a single process (tests) the
metrics are ordinary in-process ones.
"""

from __future__ import annotations

from prometheus_client import (
    Counter,
    Gauge,
    Histogram,
)

CALLS = Counter("nikgate_calls", "Calls by method, status and institution",
                ["method", "code", "institution"])
LATENCY = Histogram("nikgate_call_seconds", "Call latency by method", ["method"],
                    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5))
BATCH_ITEMS = Histogram("nikgate_batch_items", "Items per batch message", ["method"],
                        buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000))
# The build time, not the age: in multiprocess mode nothing runs at scrape time, and
# Prometheus computes the age as time() - nikgate_index_built_timestamp_seconds.
INDEX_BUILT = Gauge("nikgate_index_built_timestamp_seconds",
                    "Build time of the oldest index generation a worker serves",
                    multiprocess_mode="min")
# 1 for the generation each live worker serves, 0 for one it served before (index_holder.py)
INDEX_GENERATION = Gauge("nikgate_index_generation", "1 for the index generation a worker "
                         "serves now (label), 0 for one it served before", ["generation"],
                         multiprocess_mode="liveall")
# Set by the one worker that scrubs (worker 0): a Prometheus alert on == 0 pages someone.
INDEX_SCRUB_OK = Gauge("nikgate_index_scrub_ok", "1 when the last complete scrub of the "
                       "index passed, 0 when it found damage (server/scrub.py)",
                       multiprocess_mode="livemin")
INDEX_SCRUBBED_AT = Gauge("nikgate_index_scrub_timestamp_seconds",
                          "When the last complete index scrub ended", multiprocess_mode="max")
SCRAPING_ALERTS = Counter("nikgate_scraping_alerts", "Institutions throttled as possible "
                          "enumeration", ["institution"])
IN_FLIGHT = Gauge("nikgate_in_flight", "Calls in flight", multiprocess_mode="livesum")
COMPONENT_OK = Gauge("nikgate_component_ok", "1 while a part of the worker can serve (audit, "
                     "index), 0 while it cannot (health is then NOT_SERVING)", ["component"],
                     multiprocess_mode="min")
AUDIT_FAILURES = Counter("nikgate_audit_write_failures", "Audit appends that failed (calls "
                         "refused with UNAVAILABLE until the log can write again)")
REFUSALS_SUMMARISED = Counter("nikgate_refusals_summarised", "Refused calls over the "
                              "refusal budget, audited in summary records", ["institution"])


_calls: dict[tuple[str, str, str], Counter] = {}
_latency: dict[str, Histogram] = {}
_items: dict[str, Histogram] = {}


def record_call(method: str, code: str, institution: str, seconds: float, items: int,
                batched: bool) -> None:
    # labels() costs a few microseconds a lookup; the label sets are few, so keep them.
    key = (method, code, institution)
    counter = _calls.get(key) or _calls.setdefault(key, CALLS.labels(*key))
    counter.inc()
    latency = _latency.get(method) or _latency.setdefault(method, LATENCY.labels(method))
    latency.observe(seconds)
    if batched:
        sizes = _items.get(method) or _items.setdefault(method, BATCH_ITEMS.labels(method))
        sizes.observe(items)


def set_index_built_at(epoch_seconds: float) -> None:
    INDEX_BUILT.set(epoch_seconds)
