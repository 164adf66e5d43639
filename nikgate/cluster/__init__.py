"""Several nikgate nodes behind one address: HAProxy's configuration for them
(haproxy.py) and a cluster on loopback for tests, benchmarks and `make cluster-demo`
(local.py). docs/deploy.md describes the cluster beyond one machine."""

from .haproxy import Backend, render

__all__ = ["Backend", "render"]
