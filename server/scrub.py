"""The index scrub: re-verify the open index in the background, slowly, so damage is found
by the server before a caller meets it.

A flipped byte in an LMDB page makes stored NIKs unreachable; calls then answer CORRUPT
for them (engine/batch.pxi), but only for the NIKs someone asks about. The scrub walks
the whole index (the same steps as `nikgate index verify`, engine/integrity.py) every
`[index] scrub_interval_seconds`, one chunk per read transaction in a worker thread with
the GIL released, pausing between chunks so it reads at most
`scrub_records_per_second`: a bounded share of one core and of the page cache, never a
stall of the event loop. A failed scrub sets `nikgate_index_scrub_ok` to 0 and calls
`on_change(False, detail)` (the server reports it to its health board: NOT_SERVING for
every service); a later passing scrub sets it to 1 and calls `on_change(True, "")`.

It scrubs the generation the worker serves (server/index_holder.py): it holds that
generation only while walking it, and when a new one is swapped in mid-walk it drops the
old (which can then close) and starts again on the new one. After a swap it scrubs at
once only when the last scrub found damage (the new generation was verified before it was
swapped in), so health comes back without waiting the interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable

from nikgate.engine.integrity import VerifyReport

from . import metrics
from .index_holder import ServingIndex

log = logging.getLogger(__name__)

CHUNK = 20_000       # records per read transaction: a few milliseconds of work
MIN_PAUSE = 0.001    # between chunks even at an unbounded rate: the loop gets a turn

OnChange = Callable[[bool, str], Awaitable[None] | None]


class IndexScrubber:
    """Verifies the served index every `interval` seconds at `records_per_second` at most."""

    def __init__(self, index: ServingIndex, interval: float, on_change: OnChange,
                 records_per_second: int = 200_000, chunk: int = CHUNK) -> None:
        self.index = index
        self.interval = interval
        self.on_change = on_change
        self.rate = max(1, records_per_second)
        self.chunk = max(1, min(chunk, self.rate))
        self.ok: bool | None = None      # None until the first complete scrub
        self.last: VerifyReport | None = None
        self._wake = asyncio.Event()

    async def run(self) -> None:
        """Scrub now, then every `interval` seconds, until cancelled."""
        while True:
            try:
                await self.scrub_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("index scrub failed to run; will try again")
            with contextlib.suppress(TimeoutError):   # or at once after a swap: wake()
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()

    def wake(self) -> None:
        """A new generation was swapped in: scrub it now if the last scrub found damage,
        so health comes back without waiting the interval (a swapped-in generation was
        verified already; scrubbing a good one again would only cost calls' latency).
        Call on the loop's thread."""
        if self.ok is False:
            self._wake.set()

    async def scrub_once(self) -> VerifyReport:
        while (report := await self._walk()) is None:
            log.info("index generation swapped during the scrub: scrubbing the new one")
        self.last = report
        if report.complete:
            await self._settle(report)
        return report

    async def _settle(self, report: VerifyReport) -> None:
        metrics.INDEX_SCRUB_OK.set(1 if report.ok else 0)
        metrics.INDEX_SCRUBBED_AT.set(time.time())
        if report.ok == self.ok:
            return
        first = self.ok is None
        self.ok = report.ok
        if report.ok:
            if not first:
                log.warning("index scrub passed again: %s records", report.records_walked)
                await _call(self.on_change, True, "")
            return
        detail = "; ".join(report.lines())
        log.error("index scrub found damage in %s: %s", report.generation, detail)
        await _call(self.on_change, False, detail)

    async def _walk(self) -> VerifyReport | None:
        """One paced walk of the served generation; None when it was swapped meanwhile."""
        loop = asyncio.get_running_loop()
        with self.index.acquire() as index:
            steps = index.integrity_steps(self.chunk)
            while True:
                began = time.perf_counter()
                done, finished = await loop.run_in_executor(None, _advance, steps)
                if done and finished is not None:
                    return finished
                if self.index.index is not index:
                    steps.close()
                    return None
                spent = time.perf_counter() - began
                await asyncio.sleep(max(MIN_PAUSE, self.chunk / self.rate - spent))


def _advance(steps) -> tuple[bool, VerifyReport | None]:
    try:
        next(steps)
    except StopIteration as finished:
        return True, finished.value
    return False, None


async def _call(callback: OnChange, ok: bool, detail: str) -> None:
    result = callback(ok, detail)
    if inspect.isawaitable(result):
        await result

