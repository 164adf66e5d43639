"""Group commit for submitted return data: many batches, one synced transaction.

Streams hand batches to one thread per worker and await a future. The thread takes
everything queued (up to `max_group_records`), checks it, stores it in one LMDB write
transaction, and resolves the futures after the commit returned, i.e. after fdatasync:
an acknowledgement is never sent for a record that is not on disk. The group's audit
records are written and synced inside that transaction, before it commits: a record is
never stored without its audit record (an audit failure aborts the whole group). While one group is
being synced the next one queues, so the disk sets the pace and each fsync carries as
much as arrived meanwhile.

Memory is bounded by `max_pending_records`: `submit` waits (and the stream stops reading,
so HTTP/2 flow control stops the producer) while that many records are queued.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable

from nikgate.errors import NikgateError

from .store import Returns, Submission

log = logging.getLogger(__name__)


class ReturnCommitter:
    def __init__(self, store: Returns, max_group_records: int = 50_000,
                 max_pending_records: int = 200_000,
                 before_commit: Callable[[list[Submission]], None] | None = None) -> None:
        self.store = store
        self.before_commit = before_commit   # audits the group inside its transaction
        self.max_group_records = max_group_records
        self.max_pending_records = max_pending_records
        self._queue: deque[tuple[Submission, asyncio.Future, asyncio.AbstractEventLoop]] = (
            deque())
        self._cond = threading.Condition()
        self._pending = 0             # records queued or being committed (loop side)
        self._space: asyncio.Event | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="return-commit")
        self._thread.start()
        self.groups = 0               # commits so far (metrics, tests)
        self.records = 0

    @property
    def pending_records(self) -> int:
        return self._pending

    async def submit(self, sub: Submission) -> Submission:
        """Queue `sub`; returns it with `status` and `rejections` once durable."""
        n = len(sub.record_ids)
        if self._space is None:
            self._space = asyncio.Event()
        while self._pending and self._pending + n > self.max_pending_records:
            self._space.clear()
            await self._space.wait()
        self._pending += n
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        with self._cond:
            if self._closed:
                self._pending -= n
                raise RuntimeError("return-data committer is closed")
            self._queue.append((sub, fut, loop))
            self._cond.notify()
        try:
            return await asyncio.shield(fut)
        finally:
            self._pending -= n
            self._space.set()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(30)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                group = []
                size = 0
                while self._queue and size < self.max_group_records:
                    item = self._queue.popleft()
                    group.append(item)
                    size += len(item[0].record_ids)
            subs = [sub for sub, _, _ in group]
            try:
                for sub in subs:
                    self.store.check(sub)
                self.store.commit(subs, self.before_commit)
                error: BaseException | None = None
                self.groups += 1
                self.records += size
            except NikgateError as e:  # the audit refused: nothing of this group is stored
                log.error("return-data group not stored: %s", e)
                error = e
            except BaseException as e:  # the disk failed: nothing of this group is acked
                log.exception("return-data commit failed")
                error = e
            for sub, fut, loop in group:
                loop.call_soon_threadsafe(_settle, fut, sub, error)


def _settle(fut: asyncio.Future, sub: Submission, error: BaseException | None) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(sub)
