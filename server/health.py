"""One health board per worker: SERVING unless some part reports that it cannot serve.

Parts (the audit log, the index scrub, ...) report a problem or its end from any thread;
the board sets gRPC health for every service, a `nikgate_component_ok` gauge per part and
one log line per change, so a balancer moves away while the worker cannot answer safely
and comes back without a restart as soon as it can. Under `nikgate serve` the status also
goes to the node's HTTP /health (server/metrics_setup.py) for balancers that cannot speak
gRPC health over mutual TLS (HAProxy in TCP mode).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING, Any

from grpc_health.v1 import health, health_pb2

from . import metrics, metrics_setup

# grpcio-health-checking's asyncio servicer. The type stubs (grpc-stubs) predate its
# asyncio module, so type checkers see it as Any; it is named here, once.
if TYPE_CHECKING:
    AsyncHealthServicer = Any
else:
    AsyncHealthServicer = health.aio.HealthServicer

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class HealthBoard:
    def __init__(self, servicer: AsyncHealthServicer, services: tuple[str, ...],
                 loop: asyncio.AbstractEventLoop) -> None:
        self.servicer = servicer
        self.services = ("", *services)
        self.loop = loop
        self._problems: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stopping = False

    @property
    def serving(self) -> bool:
        return not self._problems and not self._stopping

    def report(self, part: str, ok: bool, detail: str = "") -> None:
        """Part `part` can (ok) or cannot serve; thread-safe, cheap when nothing changes."""
        with self._lock:
            was = part not in self._problems
            if ok == was:
                return
            if ok:
                del self._problems[part]
            else:
                self._problems[part] = detail
            serving = not self._problems
        metrics.COMPONENT_OK.labels(part).set(1 if ok else 0)
        if ok:
            log.warning("%s recovered; serving again" if serving else "%s recovered", part,
                        extra={"component": part})
        else:
            log.error("%s cannot serve (%s); health NOT_SERVING", part, detail,
                      extra={"component": part})
        self._publish()

    def _publish(self) -> None:
        status = SERVING if self.serving else NOT_SERVING
        try:
            running = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            running = False
        if running:
            self.loop.create_task(self._set_all(status))
        elif not self.loop.is_closed():
            asyncio.run_coroutine_threadsafe(self._set_all(status), self.loop)

    async def _set_all(self, status) -> None:
        if self._stopping and status == SERVING:
            return
        for name in self.services:
            await self.servicer.set(name, status)
        # The node's HTTP /health (metrics_setup.py) follows what gRPC health now says.
        metrics_setup.write_health(status == SERVING)

    async def start(self) -> None:
        await self._set_all(SERVING if self.serving else NOT_SERVING)

    async def stop(self) -> None:
        """NOT_SERVING for good: the worker is draining."""
        self._stopping = True
        await self._set_all(NOT_SERVING)
