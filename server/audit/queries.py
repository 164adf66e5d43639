"""Reading the log: who accessed a NIK, usage per institution, the latest records.

Every query takes one audit directory or several: the local logs of a cluster's nodes,
each node's streams named after it (`node1-w0`), read together. A stream name found in
more than one directory (nodes without a node_id both write `w0`) is shown as
`<directory>/<stream>` so its records stay apart.
"""

from __future__ import annotations

import binascii
import datetime as dt
import heapq
import json
from binascii import a2b_base64
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from nikgate.errors import InvalidInputError

from .nikref import REF_BYTES, NikRefs, load_key
from .segments import iter_lines, iter_lines_reversed, list_segments, list_streams

_REFS_MEMBER = b'"nik_refs":"'

Directories = str | Path | Sequence[str | Path]


def streams_in(directories: Directories) -> list[tuple[str, Path]]:
    """(label, stream directory) of every stream in one audit directory or several, by
    label. The label is the stream's name, or `<directory>/<name>` for a name that more
    than one of the directories holds."""
    dirs = [directories] if isinstance(directories, (str, Path)) else list(directories)
    found = [(Path(d), p) for d in dirs for p in list_streams(d)]
    seen: dict[str, int] = {}
    for _, p in found:
        seen[p.name] = seen.get(p.name, 0) + 1
    return sorted((p.name if seen[p.name] == 1 else f"{d}/{p.name}", p) for d, p in found)


def _call_records(directory: Directories, match) -> Iterator[tuple[str, dict]]:
    """(stream, record) for every call record whose raw line `match` accepts."""
    for label, stream_dir in streams_in(directory):
        for _, path in list_segments(stream_dir):
            for raw in iter_lines(path):
                if not match(raw):
                    continue
                try:
                    rec = json.loads(raw)
                except ValueError:
                    continue  # verify reports it; queries read what is readable
                if isinstance(rec, dict) and rec.get("kind") == "call":
                    yield label, rec


def _raw_refs(raw: bytes) -> bytes:
    """A line's NIK references, decoded without parsing the whole line."""
    i = raw.find(_REFS_MEMBER)
    if i < 0:
        return b""
    i += len(_REFS_MEMBER)
    try:
        return a2b_base64(raw[i:raw.index(b'"', i)])
    except (ValueError, binascii.Error):
        return b""


def _positions(refs: bytes, wanted: set[bytes]) -> list[int]:
    """Item positions in `refs` (whole 16-byte entries only) holding one of `wanted`."""
    found = []
    for w in wanted:
        i = refs.find(w)
        while i >= 0:
            if i % REF_BYTES == 0:
                found.append(i // REF_BYTES)
            i = refs.find(w, i + 1)
    return sorted(found)


def who_accessed(directory: Directories, key_path: str | Path, nik: str | int) -> list[dict]:
    """Every call that named `nik`, oldest first, with that NIK's item result.

    The NIK is turned into its references with the server's key and matched against each
    call's reference list (whole 16-byte entries only). Several directories (a cluster's
    nodes) are read together; their nodes must share the audit key.
    """
    refs = NikRefs(load_key(key_path))
    wanted = refs.candidate_refs(nik)
    out = []

    def names_nik(raw: bytes) -> bool:
        return bool(_positions(_raw_refs(raw), wanted))

    for stream, rec in _call_records(directory, names_nik):
        try:
            positions = _positions(a2b_base64(rec.get("nik_refs", "")), wanted)
            results = a2b_base64(rec.get("item_results", ""))
        except (ValueError, binascii.Error):
            continue
        if not positions:
            continue
        first = positions[0]
        out.append({
            "time": _iso(rec["time_ms"]),
            "time_ms": rec["time_ms"],
            "stream": stream,
            "seq": rec["seq"],
            "tx": rec.get("tx"),
            "institution": rec.get("institution"),
            "cert_serial": rec.get("cert_serial"),
            "method": rec.get("method"),
            "channel": rec.get("channel"),
            "purpose": rec.get("purpose"),
            "result": rec.get("result"),
            "item_result": results[first] if first < len(results) else None,
            "occurrences": len(positions),
            "fields_requested": rec.get("fields_requested"),
            "fields_returned": rec.get("fields_returned"),
        })
    out.sort(key=lambda r: (r["time_ms"], r["stream"], r["seq"]))
    return out


def usage(directory: Directories, institution: str, date_from: str | dt.date,
          date_to: str | dt.date, utc_offset_hours: int = 7) -> dict:
    """Calls and accessed NIKs of one institution per day, method and channel.

    Days run from `date_from` to `date_to` inclusive in UTC+`utc_offset_hours` (default
    WIB, Jakarta). `niks` counts the NIKs of calls answered OK (the billing basis);
    refused calls are counted apart, with their NIKs.
    """
    start, end = _parse_day(date_from), _parse_day(date_to)
    if end < start:
        raise InvalidInputError(f"date_to {end} is before date_from {start}")
    tz = dt.timezone(dt.timedelta(hours=utc_offset_hours))
    lo = int(dt.datetime.combine(start, dt.time(), tz).timestamp() * 1000)
    hi = int(dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tz).timestamp() * 1000)
    needle = b'"institution":' + json.dumps(institution).encode()
    counts: dict[tuple[str, str, str], dict[str, int]] = {}
    for _, rec in _call_records(directory, lambda raw: needle in raw):
        t = rec.get("time_ms", 0)
        if rec.get("institution") != institution or not lo <= t < hi:
            continue
        day = dt.datetime.fromtimestamp(t / 1000, tz).date().isoformat()
        c = counts.setdefault((day, rec.get("method", ""), rec.get("channel", "")),
                              {"calls": 0, "niks": 0, "calls_refused": 0, "niks_refused": 0})
        n = rec.get("n", 0)
        if rec.get("result") == "OK":
            c["calls"] += 1
            c["niks"] += n
        else:   # a summary record of refusals over the budget counts its calls
            c["calls_refused"] += rec.get("calls", 1)
            c["niks_refused"] += n
    rows: list[dict[str, Any]] = [{"day": d, "method": m, "channel": ch, **c}
            for (d, m, ch), c in sorted(counts.items())]
    totals: dict[tuple[str, str], dict[str, int]] = {}
    for row in rows:
        t = totals.setdefault((row["method"], row["channel"]), dict.fromkeys(
            ("calls", "niks", "calls_refused", "niks_refused"), 0))
        for k in t:
            t[k] += row[k]
    sign = "+" if utc_offset_hours >= 0 else "-"
    return {
        "institution": institution,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "timezone": f"UTC{sign}{abs(utc_offset_hours):02d}:00",
        "rows": rows,
        "totals": [{"method": m, "channel": ch, **c} for (m, ch), c in sorted(totals.items())],
    }


def tail(directory: Directories, n: int = 20) -> list[dict]:
    """The last `n` records across all streams, oldest first (NIK references left out)."""
    picked: list[tuple[int, str, int, dict]] = []
    for label, stream_dir in streams_in(directory):
        got = 0
        for _, path in reversed(list_segments(stream_dir)):
            for raw in iter_lines_reversed(path):
                try:
                    rec = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(rec, dict):
                    continue
                rec.pop("nik_refs", None)
                rec.pop("item_results", None)
                rec["stream"] = label
                rec["time"] = _iso(rec.get("time_ms", 0))
                picked.append((rec.get("time_ms", 0), label, rec.get("seq", 0), rec))
                got += 1
                if got >= n:
                    break
            if got >= n:
                break
    return [r for *_, r in heapq.nlargest(n, picked, key=lambda x: x[:3])][::-1]


def _parse_day(value: str | dt.date) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(f"date must be YYYY-MM-DD, got {value!r}") from None


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds")
