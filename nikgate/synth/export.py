"""write_export: a synthetic warehouse export, generated district by district, in parallel.

Memory stays constant in the row count: the only per-run state is one integer quota per
district (7,285 of them); the NIK/KK counters live for one district (see serials.py).

Every district draws from its own random source, seeded from (seed, district code), so a
run of districts can be rendered anywhere: chunks of consecutive districts go to worker
processes and come back as CSV text, written in district order. The bytes therefore depend
on (records, seed) only, never on the number of workers.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import multiprocessing
import os
import random
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

from nikgate.engine import schema

from . import geo
from .csvout import Target
from .render import render

# Rows are assigned to districts in blocks: small files still get whole households in a
# few districts instead of one person in each of thousands.
BLOCK = 40
_DRAW_CHUNK = 65536
# Rows per unit of work: large enough that a chunk's pickling and hand-over cost little,
# small enough that progress moves and a 50M-row run holds only a few chunks in memory.
CHUNK_ROWS = 20_000
WRITE_PIECE = 1 << 16   # characters per write() of a chunk's text
# Below this many rows one process is quicker than starting workers.
PARALLEL_MIN_ROWS = 60_000

#: progress(rows_written_so_far), called after every chunk
Progress = Callable[[int], None]
Chunk = tuple[tuple[int, int], ...]   # ((district code, rows), ...) in code order
T = TypeVar("T")


def district_quotas(records: int, seed: int) -> list[int]:
    """Rows per district (aligned with geo.district_codes()), summing to `records`.

    Blocks of BLOCK rows (the last one smaller) are drawn by population weight, in chunks
    so that a 50M-row run never holds more than _DRAW_CHUNK draws.
    """
    codes = geo.district_codes()
    weights = geo.district_table().cum
    rng = random.Random(f"nikgate.synth:{seed}:quotas")
    quotas = [0] * len(codes)
    blocks, last = divmod(records, BLOCK)
    remaining = blocks
    indices = range(len(codes))
    while remaining:
        k = min(remaining, _DRAW_CHUNK)
        for i in rng.choices(indices, cum_weights=weights, k=k):
            quotas[i] += BLOCK
        remaining -= k
    if last:
        quotas[rng.choices(indices, cum_weights=weights)[0]] += last
    return quotas


def chunks(records: int, seed: int, rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
    """Consecutive districts with a quota, grouped into chunks of about `rows` rows."""
    current: list[tuple[int, int]] = []
    size = 0
    for code, quota in zip(geo.district_codes(), district_quotas(records, seed)):
        if quota:
            current.append((code, quota))
            size += quota
            if size >= rows:
                yield tuple(current)
                current, size = [], 0
    if current:
        yield tuple(current)


def renderer(compiled: bool = True) -> Callable[[int, Chunk], str]:
    """render.render compiled (_compiled/) when built from the sources on disk, else the
    plain one; both give the same text."""
    if compiled:
        from ._compiled import renderer as compiled_renderer

        twin = compiled_renderer()
        if twin is not None:
            return twin
    return render


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Rows are lists of strings, never cycles: the cycle collector would only walk a
    chunk's millions of young objects again and again (2-3% of the time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def render_chunk(seed: int, chunk: Chunk, compiled: bool = True) -> str:
    """The CSV rows (no header) of the districts in `chunk` (render.py)."""
    with _no_cycle_collection():
        return renderer(compiled)(seed, chunk)


def default_workers(records: int) -> int:
    """One process per usable core for large exports, one for small ones."""
    if records < PARALLEL_MIN_ROWS:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores)


def _start_method() -> str:
    # fork shares the loaded region tables for free; it is unsafe once gRPC (its at-fork
    # handlers) or other threads live in this process, e.g. inside a bench: then forkserver.
    if "grpc" not in sys.modules and threading.active_count() == 1:
        return "fork"
    return "forkserver"


def _encoded_chunk(seed: int, chunk: Chunk, compiled: bool) -> bytes:
    """A chunk's CSV as UTF-8, encoded where it was rendered: the parent only writes it."""
    return render_chunk(seed, chunk, compiled).encode("utf-8")


def _rendered(render_fn: Callable[[int, Chunk, bool], T], seed: int, work: Iterator[Chunk],
              workers: int, compiled: bool) -> Iterator[tuple[int, T]]:
    """(rows, render_fn's result) of each chunk in order; at most 2 x workers in flight."""
    if workers <= 1:
        for chunk in work:
            yield sum(q for _, q in chunk), render_fn(seed, chunk, compiled)
        return
    renderer(compiled)   # loaded (or its warning logged) once, before forking
    ctx = multiprocessing.get_context(_start_method())
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        pending: deque[tuple[int, Future[T]]] = deque()
        for chunk in work:
            pending.append((sum(q for _, q in chunk),
                            pool.submit(render_fn, seed, chunk, compiled)))
            if len(pending) >= 2 * workers:
                n, fut = pending.popleft()
                yield n, fut.result()
        while pending:
            n, fut = pending.popleft()
            yield n, fut.result()


def write_export(out: Target, records: int, seed: int, *, workers: int | None = None,
                 progress: Progress | None = None, compiled: bool = True) -> int:
    """Write a synthetic warehouse export of `records` rows; return the rows written.

    The CSV has a header row and the columns schema.REQUIRED_COLUMNS in order. The same
    (records, seed) always gives the same bytes, whatever `workers` (processes rendering
    chunks of districts; default: one per core for large exports). Rows come grouped by
    the district that issued their NIKs (code order), household by household; they are
    not sorted by NIK. `progress(rows_so_far)` is called after each chunk is written.
    `out` is a path (written as UTF-8) or a text stream (opened with newline="").
    `compiled=False` uses the plain Python modules only (the tests' oracle).
    """
    if records < 0:
        raise ValueError(f"records must be >= 0, got {records}")
    if workers is None:
        workers = default_workers(records)
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(schema.REQUIRED_COLUMNS)
    work = chunks(records, seed, CHUNK_ROWS)
    written = 0
    if isinstance(out, (str, os.PathLike)):
        with open(out, "wb") as f:
            f.write(header.getvalue().encode("utf-8"))
            for n, data in _rendered(_encoded_chunk, seed, work, workers, compiled):
                f.write(data)
                written += n
                if progress is not None:
                    progress(written)
        return written
    out.write(header.getvalue())
    for n, text in _rendered(render_chunk, seed, work, workers, compiled):
        # in pieces: one multi-megabyte write to a pipe whose reader went away can return
        # as if written (a partial write taken for the whole); the next piece then fails
        # with BrokenPipeError, as a row-by-row writer would
        for i in range(0, len(text), WRITE_PIECE):
            out.write(text[i:i + WRITE_PIECE])
        written += n
        if progress is not None:
            progress(written)
    return written
