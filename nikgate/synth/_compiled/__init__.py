"""Compiled twins of the per-row generation modules: the same .py sources built by Cython.

setup.py compiles nikgate/synth/{COMPILED}.py a second time, as nikgate.synth._compiled.*,
typed by the .pxd files in this folder (the sources stay plain Python: what tests, mypy
and editors read). The twins make the same calls to the same random sources, so they
write the same bytes, about 1.5x faster per row; tests/unit/test_synth.py checks the
bytes against the plain modules, the oracle.

A twin built from other sources than those on disk (people.py edited since the last
`setup.py build_ext --inplace`) must never shadow the edit: setup.py records the digest
of the sources it compiled, and renderer() uses the twins only when it matches,
else the plain modules, with a warning naming the rebuild command.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SOURCES = HERE.parent
# Compiled, in dependency order. The plain modules below are shared instead (not hot,
# and geo's region caches should exist once per process).
COMPILED = ("pick", "serials", "address", "attrs", "culture", "names", "people", "render")
SHARED = ("dates", "fields", "geo")
BUILT_FROM = HERE / "built-from.txt"   # written by setup.py after building the twins
Render = Callable[[int, tuple[tuple[int, int], ...]], str]   # render.render's shape


def sources_digest() -> str:
    """sha256 over the compiled modules' .py sources and their .pxd declarations."""
    h = hashlib.sha256()
    for name in COMPILED:
        for path in (SOURCES / f"{name}.py", HERE / f"{name}.pxd"):
            h.update(path.name.encode() + b"\0")
            if path.exists():
                h.update(path.read_bytes())
    return h.hexdigest()


def _load() -> Render | None:
    try:
        built = BUILT_FROM.read_text().strip()
    except OSError:
        built = ""
    if built != sources_digest():
        log.warning("nikgate.synth: the compiled generator is %s; using the plain Python one "
                    "(same output, slower). Rebuild: python setup.py build_ext --inplace",
                    "missing" if not built else "older than its sources")
        return None
    try:
        module = importlib.import_module(f"{__name__}.render")
    except ImportError as e:
        log.warning("nikgate.synth: cannot load the compiled generator (%s); using the plain "
                    "Python one. Rebuild: python setup.py build_ext --inplace", e)
        return None
    render: Render = module.render
    return render


# The twins' relative imports of the shared modules find the plain ones, however a twin is
# imported (through renderer(), or directly, as a walk over the package does). Not when
# setup.py reads this file for COMPILED, before nikgate is installed.
if __name__ == "nikgate.synth._compiled":
    for _name in SHARED:
        sys.modules.setdefault(f"{__name__}.{_name}",
                               importlib.import_module(f"nikgate.synth.{_name}"))

_cache: list[Render | None] = []


def renderer() -> Render | None:
    """The compiled render.render, or None when it is missing or stale (logged once)."""
    if not _cache:
        _cache.append(_load())
    return _cache[0]
