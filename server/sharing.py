"""One handle per LMDB environment and process, shared by the servers in that process.

LMDB forbids opening one environment twice in a process, and servers started in-process
(tests, benchmarks) each want the stores. `SharedByPath.shared(path)` hands out one
instance per resolved path with a reference count; `release()` drops a reference and the
last one closes it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Self


class SharedByPath:
    path: Path
    _shared: dict[tuple[type, str], tuple[SharedByPath, int]] = {}
    _shared_lock = threading.Lock()

    def __init__(self, path: str | os.PathLike) -> None:
        raise NotImplementedError   # each store opens its environment at `path`

    def close(self) -> None:
        raise NotImplementedError

    @classmethod
    def shared(cls, path: str | os.PathLike) -> Self:
        key = (cls, str(Path(path).resolve()))
        with SharedByPath._shared_lock:
            handle, refs = SharedByPath._shared.get(key, (None, 0))
            if handle is None:
                handle = cls(path)
            SharedByPath._shared[key] = (handle, refs + 1)
            return handle  # type: ignore[return-value]

    def release(self) -> None:
        """Drop one shared reference; the last one closes the environment."""
        key = (type(self), str(self.path.resolve()))
        with SharedByPath._shared_lock:
            handle, refs = SharedByPath._shared.get(key, (None, 0))
            if handle is self and refs > 1:
                SharedByPath._shared[key] = (handle, refs - 1)
                return
            SharedByPath._shared.pop(key, None)
        self.close()
