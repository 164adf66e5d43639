"""verify_log: check every stream's hash chain and segment seals, naming what is wrong.

One audit directory or several (a cluster's nodes, each with its own local log): every
stream is its own chain wherever it lives.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import record
from .queries import Directories, streams_in
from .segments import list_segments, split_lines, stream_is_live

# What a call record's payload is replaced by once it has been checked: nothing reads it.
_DROPPED: dict = {}


@dataclass
class StreamSummary:
    name: str
    segments: int
    records: int
    head_seq: int
    head_hash: str
    state: str  # "closed" (final seal), "live" (a writer holds it), "unsealed"


@dataclass
class VerifyReport:
    """`ok` is True when no problem was found. Each problem names stream, segment, line and
    seq and says what is wrong (changed, deleted, inserted, reordered, seal)."""

    ok: bool
    problems: list[str] = field(default_factory=list)
    streams: list[StreamSummary] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def verify_log(directory: Directories) -> VerifyReport:
    """Verify every stream under `directory` (or under each of several directories)."""
    report = VerifyReport(ok=True)
    dirs = [directory] if isinstance(directory, (str, Path)) else list(directory)
    streams = streams_in(dirs)
    for d in dirs:
        if not any(p.parent == Path(d) for _, p in streams):
            report.problems.append(f"{d}: no audit streams")
    shared = sorted({p.name for label, p in streams if label != p.name})
    if shared:
        report.notes.append(f"stream name(s) {', '.join(shared)} in more than one directory "
                            "(nodes without [server] node_id?): shown as directory/stream")
    for label, stream_dir in streams:
        _verify_stream(stream_dir, report, label)
    report.ok = not report.problems
    return report


def _verify_stream(stream_dir: Path, report: VerifyReport, label: str | None = None) -> None:
    name = label or stream_dir.name
    problems: list[str] = []
    live = stream_is_live(stream_dir)
    for p in sorted(stream_dir.glob("segment-*.log.torn-*")):
        report.notes.append(f"stream {name}: {p.name} holds {p.stat().st_size} bytes cut "
                            "from an incomplete tail when the writer restarted")
    segments = list_segments(stream_dir)
    if not segments:
        report.problems.append(f"stream {name}: no segment files")
        return

    expected = 1
    for number, _ in segments:
        if number != expected:
            gap = f"{expected}" if number == expected + 1 else f"{expected}-{number - 1}"
            problems.append(f"stream {name}: segment {gap} missing (deleted)")
        expected = number + 1

    chain: list[record.Record] = []
    per_segment: list[tuple[int, list[record.Record]]] = []
    for i, (number, path) in enumerate(segments):
        in_progress = live and i == len(segments) - 1
        lines, tail = split_lines(path.read_bytes())
        if tail and not in_progress:
            problems.append(f"stream {name} segment {number} line {len(lines) + 1}: "
                            f"changed: {len(tail)} bytes without a newline at the end "
                            "(truncated, edited, or cut by a power loss)")
        recs = []
        for line_no, raw in enumerate(lines, 1):
            try:
                rec = record.parse(raw, number, line_no)
            except record.BadLine as e:
                problems.append(f"stream {name} segment {number} line {line_no}: changed: "
                                f"not a valid record ({e})")
                continue
            if not rec.hash_ok:
                problems.append(f"stream {name} {rec.where()}: changed: its content does not "
                                "match its hash")
            if rec.kind == "call":
                rec.data = _DROPPED  # keep memory flat; only structure records are needed below
            recs.append(rec)
        chain.extend(recs)
        per_segment.append((number, recs))

    problems.extend(_check_chain(name, chain))
    state = _check_segments(name, per_segment, live, problems, stream_dir.name)
    head = chain[-1] if chain else None
    report.streams.append(StreamSummary(
        name, len(segments), len(chain), head.seq if head else 0,
        head.hash if head else record.GENESIS, state))
    report.problems.extend(problems)


def _check_chain(name: str, chain: list[record.Record]) -> list[str]:
    """Walk the records in file order; each must have seq = previous + 1 and chain from the
    previous record's hash. Classify every break."""
    out: list[str] = []
    referenced = {r.prev for r in chain}
    seqs = Counter(r.seq for r in chain)
    by_seq = {r.seq: r for r in reversed(chain)}  # the first record with each seq
    pp: record.Record | None = None
    q: record.Record | None = None
    for i, r in enumerate(chain):
        where = f"stream {name} {r.where()}"
        if q is None:
            if r.seq != 1:
                out.append(f"{where}: deleted: seq 1-{r.seq - 1} missing at the start")
            elif r.prev != record.GENESIS:
                out.append(f"{where}: changed: the first record does not chain from genesis")
            q = r
            continue
        if r.seq == q.seq + 1 and r.prev == q.hash:
            pp, q = q, r
            continue
        nx = chain[i + 1] if i + 1 < len(chain) else None
        if (r.hash not in referenced and nx is not None
                and nx.prev == q.hash and nx.seq == q.seq + 1):
            out.append(f"{where}: inserted: no record chains from it (the next record "
                       f"chains from {q.where()}, before it)")
            continue
        if (pp is not None and q.hash not in referenced
                and r.prev == pp.hash and r.seq == pp.seq + 1):
            out.append(f"stream {name} {q.where()}: inserted: no record chains from it "
                       f"(the next, {r.where()}, chains from the record before it)")
            q = r
            continue
        if pp is not None and r.prev == pp.hash and r.seq == pp.seq + 1:
            pp, q = q, r  # r follows the record before q: q's misplacement is reported
            continue
        if r.seq > q.seq + 1 and not any(s in seqs for s in range(q.seq + 1, r.seq)):
            gap = f"{q.seq + 1}" if r.seq == q.seq + 2 else f"{q.seq + 1}-{r.seq - 1}"
            out.append(f"{where}: deleted: seq {gap} missing before it (after {q.where()})")
        elif r.seq != q.seq + 1:
            due = by_seq.get(q.seq + 1)
            at = f"; seq {due.seq} is at {due.where()}" if due is not None else ""
            out.append(f"{where}: reordered: seq {r.seq} follows seq {q.seq} "
                       f"({q.where()}){at}")
        else:
            out.append(f"{where}: does not chain from {q.where()}: that record was changed "
                       "and re-hashed, or replaced")
        pp, q = q, r
    return out


def _check_segments(name: str, per_segment: list[tuple[int, list[record.Record]]],
                    live: bool, out: list[str], stream: str | None = None) -> str:
    """Each segment opens with its own "open" record and all but the last end with a seal
    whose count matches; returns the stream's state."""
    state = "closed"
    for i, (number, recs) in enumerate(per_segment):
        last_segment = i == len(per_segment) - 1
        where = f"stream {name} segment {number}"
        if not recs:
            if not (last_segment and live):
                out.append(f"{where}: empty")
            state = "live" if live else "unsealed"
            continue
        first = recs[0]
        if first.kind != "open":
            out.append(f"{where} line {first.line}: deleted: the segment's open record is "
                       "missing")
        elif first.data.get("stream") != (stream or name) or first.data.get("segment") != number:
            out.append(f"{where}: changed: the file holds segment {first.data.get('segment')} "
                       f"of stream {first.data.get('stream')} (renamed or copied)")
        for j, rec in enumerate(recs):
            if rec.kind == "open" and j > 0:
                out.append(f"stream {name} {rec.where()}: inserted: an open record inside a "
                           "segment")
            if rec.kind == "seal":
                if j != len(recs) - 1:
                    out.append(f"stream {name} {rec.where()}: inserted: records after the "
                               "segment's seal")
                if rec.data.get("count") != j:
                    out.append(f"stream {name} {rec.where()}: broken seal: it counts "
                               f"{rec.data.get('count')} records, the segment holds {j} before "
                               "it (records deleted or inserted)")
        tail = recs[-1]
        if tail.kind == "seal":
            if last_segment and not tail.data.get("final"):
                if live:
                    state = "live"
                else:
                    out.append(f"stream {name} {tail.where()}: deleted: the stream ends with a "
                               f"rotation seal but segment {number + 1} is missing")
                    state = "unsealed"
        elif not last_segment:
            out.append(f"{where}: broken seal: not sealed, yet segment "
                       f"{per_segment[i + 1][0]} follows (last record {tail.where()})")
        elif live:
            state = "live"
        else:
            state = "unsealed"
            out.append(f"stream {name} {tail.where()}: broken seal: the stream ends here "
                       "without a seal and no writer holds it: the seal (and maybe records) "
                       "were removed, or the writer was killed and the stream never reopened "
                       "(reopening appends a resume record)")
    return state
