"""ServingIndex: the index generation a worker serves, moved to a newly published one live.

Every handler reads the index through `acquire()`, a context manager that hands out the
current generation's NikIndex and counts the call as its user; a swap only changes what
the next `acquire()` gets, so each call reads one generation from start to end. The
generation swapped out is retired: it stays open while calls hold it and is closed when
the last one ends (or at once when none do). A worker never opens one generation twice:
LMDB's locks are per process and closing a second handle of the same environment would
drop the first's (the rule py-lmdb warns about), so a generation still draining is reused
when `current` points back at it.

A new generation is noticed by a stat of INDEX_DIR/current every `[index]
reload_check_seconds` (a readlink: microseconds), by SIGHUP (the supervisor forwards it
to every worker) or by the Admin RPC GetServing with `reload` set. Before the swap the new
generation is opened (format, record layout, key file: engine/index.py) and, with `[index]
reload_verify` (the default), checked in full like `nikgate index verify`, in a thread,
while the old one keeps serving. One that fails is not swapped in: the worker logs why,
GetServing reports it (`last_error`), and it is not tried again until `current` changes or
a reload is forced.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from nikgate.engine import NikIndex
from nikgate.engine.layout import current_generation

from . import metrics

log = logging.getLogger(__name__)


@dataclasses.dataclass(eq=False)
class _Lease:
    index: NikIndex
    opened_at: float                 # epoch seconds
    refs: int = 0
    retired: bool = False


@dataclasses.dataclass(frozen=True)
class Serving:
    """What a worker serves, for GetServing and `nikgate index status`."""
    generation: str
    path: str
    record_count: int
    opened_at: float
    built_at: str
    generations_open: int            # the current one plus those still draining
    last_error: str
    swaps: int


class ServingIndex:
    """The current generation of the index at `path`, reference-counted per call."""

    def __init__(self, path: str | os.PathLike, first: NikIndex | None = None,
                 verify: bool = True) -> None:
        self.path = Path(path)
        self.verify = verify
        self._lock = threading.Lock()
        index = first or NikIndex.open(self.path)
        self._current = _Lease(index, time.time())
        self._retired: list[_Lease] = []
        self._failed: Path | None = None    # a generation refused; not retried unforced
        self._reloading = asyncio.Lock()
        self.last_error = ""
        self.swaps = 0
        self.last_swap_seconds = 0.0
        self.on_swap: list[Callable[[], object]] = []   # called after each swap, any thread
        _announce(None, index)

    # -- the per-call path --------------------------------------------------------------

    @contextlib.contextmanager
    def acquire(self) -> Iterator[NikIndex]:
        """The current generation, held open until the block ends."""
        with self._lock:
            lease = self._current
            lease.refs += 1
        try:
            yield lease.index
        finally:
            with self._lock:
                lease.refs -= 1
                close = lease.retired and lease.refs == 0
                if close:
                    self._retired.remove(lease)
            if close:
                _close(lease)

    @property
    def index(self) -> NikIndex:
        """The current generation, not held (start-up figures, tests); calls use acquire()."""
        return self._current.index

    @property
    def open_generations(self) -> int:
        with self._lock:
            return 1 + len(self._retired)

    def serving(self) -> Serving:
        with self._lock:
            lease, draining = self._current, len(self._retired)
        idx = lease.index
        return Serving(idx.generation.name, str(idx.generation),
                       int(idx.manifest.get("record_count", 0)), lease.opened_at,
                       str(idx.manifest.get("built_at", "")), 1 + draining, self.last_error,
                       self.swaps)

    # -- noticing and loading a new generation ------------------------------------------

    def published(self) -> Path | None:
        """Where `current` points now (a readlink), or None when it cannot be read."""
        try:
            return current_generation(self.path)
        except Exception:
            return None

    def has_news(self) -> bool:
        target = self.published()
        return (target is not None and target != self._current.index.generation
                and target != self._failed)

    async def reload(self, force: bool = False) -> bool:
        """Swap to the published generation if it is new (and good); True when swapped.
        The opening and checking run in a thread; calls keep being answered meanwhile."""
        async with self._reloading:
            if not force and not self.has_news():
                return False
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, self.load, force)

    def load(self, force: bool = False) -> bool:
        """Blocking: open, check and swap in the published generation if it is new."""
        target = self.published()
        if target is None or target == self._current.index.generation:
            return False
        if target == self._failed and not force:
            return False
        began = time.perf_counter()
        with self._lock:   # still draining from an earlier swap: take it back, never reopen
            lease = next((x for x in self._retired if x.index.generation == target), None)
            if lease is not None:
                self._retired.remove(lease)
                lease.retired = False
        if lease is None:
            try:
                lease = _Lease(self._open_checked(target), time.time())
            except Exception as e:
                self._failed = target
                self.last_error = (f"generation {target.name} was not swapped in: {e}; still "
                                   f"serving {self._current.index.generation.name}")
                log.error("%s", self.last_error, extra={"generation": target.name})
                return False
        with self._lock:
            old, self._current = self._current, lease
            old.retired = True
            idle = old.refs == 0
            if not idle:
                self._retired.append(old)
        self._failed = None
        self.last_error = ""
        self.swaps += 1
        self.last_swap_seconds = time.perf_counter() - began
        _announce(old.index, lease.index)
        log.info("serving index generation %s (%d records) in place of %s; the old one "
                 "closes %s", lease.index.generation.name, lease.index.record_count,
                 old.index.generation.name, "now" if idle else "after its calls",
                 extra={"generation": lease.index.generation.name,
                        "swap_seconds": round(self.last_swap_seconds, 3)})
        if idle:
            _close(old)
        for callback in self.on_swap:
            callback()
        return True

    def _open_checked(self, target: Path) -> NikIndex:
        index = NikIndex.open(target)   # format, record layout, manifest, key file
        try:
            if self.verify:
                report = index.check_integrity()
                if not report.ok:
                    raise ValueError("it failed verification: " + "; ".join(report.lines()))
        except BaseException:
            index.close()
            raise
        return index

    async def watch(self, every: float) -> None:
        """Look for a new generation every `every` seconds until cancelled."""
        while True:
            await asyncio.sleep(every)
            try:
                if self.has_news():
                    await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("looking for a new index generation failed; will retry")

    def close(self) -> None:
        """Close every generation (the server is stopping: no calls remain)."""
        with self._lock:
            leases, self._retired = [self._current, *self._retired], []
        for lease in leases:
            lease.index.close()


def _close(lease: _Lease) -> None:
    lease.index.close()
    log.info("closed index generation %s: its last call ended",
             lease.index.generation.name, extra={"generation": lease.index.generation.name})


def _announce(old: NikIndex | None, new: NikIndex) -> None:
    if old is not None:
        metrics.INDEX_GENERATION.labels(old.generation.name).set(0)
    metrics.INDEX_GENERATION.labels(new.generation.name).set(1)
    built = new.manifest.get("built_at")
    if built:
        metrics.set_index_built_at(dt.datetime.fromisoformat(built).timestamp())
