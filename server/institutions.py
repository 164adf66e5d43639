"""The institutions nikgate knows: a certificate naming any other is refused.

A small JSON file (`{"institutions": [{"id": "bank-bri", "name": "...", "kind": "bank"}]}`)
reloaded when it changes, so adding an institution needs no restart. The access issue
replaces this with full grants; the lookup interface stays.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

RECHECK_SECONDS = 0.5


class InstitutionRegistry:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._known: dict[str, dict] = {}
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._reload()

    def _reload(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            if self._stamp is not None:
                log.warning("institution registry %s disappeared; keeping the last one",
                            self.path)
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        try:
            data = json.loads(self.path.read_text())
            known = {entry["id"]: entry for entry in data.get("institutions", [])}
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.error("institution registry %s is unreadable (%s); keeping the last one",
                      self.path, e)
            return
        self._known, self._stamp = known, stamp
        log.info("institution registry loaded: %d institutions", len(known))

    def get(self, institution_id: str) -> dict | None:
        now = time.monotonic()
        if now - self._checked > RECHECK_SECONDS:
            with self._lock:
                if now - self._checked > RECHECK_SECONDS:
                    self._checked = now
                    self._reload()
        return self._known.get(institution_id)


def write_registry(path: str | os.PathLike, institutions: list[dict]) -> None:
    """Write a registry file atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"institutions": institutions}, indent=2) + "\n")
    os.replace(tmp, path)
