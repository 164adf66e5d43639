"""Group commit: a background thread that makes appended records durable every interval."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class GroupCommitter:
    """Calls `sync` every `interval` seconds until stopped.

    Appends never wait for it: one fdatasync covers every record written since the last
    one, so the cost per record falls as the load rises.
    """

    def __init__(self, sync: Callable[[], None], interval: float, name: str) -> None:
        self._sync = sync
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._sync()
            except Exception:  # the log records the failure and refuses further appends
                logger.exception("audit group commit failed")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
