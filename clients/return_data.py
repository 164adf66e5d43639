"""Sending data balikan: stream records, resume after a disconnect, report what happened.

    sender = ReturnDataSender(Connection.from_file("connection.json", "bank-demo"))
    report = sender.send(read_records_csv("cif.csv"))

A record is done when the server acknowledges it (STORED or DUPLICATE: on disk) or
rejects it (with a reason). Until then it is kept; when the stream breaks (server
restart, network), the sender reconnects and resends every batch not yet answered. The
server stores a record id once, so a resent record is acknowledged as DUPLICATE.
"""

from __future__ import annotations

import csv
import datetime as dt
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import grpc

from nikgate.errors import InvalidInputError, ServiceUnavailable, SourceError
from nikgate.methods import rpc
from nikgate.v1 import return_data_pb2 as pb

from .connection import Connection
from .errors import from_rpc_error, mapped
from .requests import raw

SUBMIT_METHOD = rpc("ReturnData", "Submit").path
OBLIGATIONS_METHOD = rpc("ReturnData", "Obligations").path
# A broken stream is retried on these; anything else (a bad batch, no grant) is final.
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
                       grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.INTERNAL,
                       grpc.StatusCode.UNKNOWN, grpc.StatusCode.RESOURCE_EXHAUSTED})
STORED, DUPLICATE, REJECTED = (pb.RECORD_STATUS_STORED, pb.RECORD_STATUS_DUPLICATE,
                               pb.RECORD_STATUS_REJECTED)


@dataclass(frozen=True, slots=True)
class ReturnRecord:
    record_id: str          # the institution's own id: resending it never stores twice
    nik: str
    kind: str               # e.g. bank_cif, account_number, msisdn (docs/return-data.md)
    value: str
    observed_at_ms: int = 0


@dataclass(frozen=True, slots=True)
class Rejected:
    record: ReturnRecord
    reason: str             # RejectReason name without its prefix, e.g. NOT_ACCESSED
    message: str


@dataclass
class SendReport:
    stored: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    batches: int = 0
    reconnects: int = 0
    receipts: int = 0       # signed acknowledgements received

    @property
    def acknowledged(self) -> int:
        """Records on disk at the server: stored now or before (duplicates)."""
        return self.stored + self.duplicates


AckHook = Callable[[list[ReturnRecord], bytes], None]


class StreamBroken(Exception):
    """The stream ended with a retryable status; the sender resumes. Internal: never
    leaves send(). args: (progressed, the nikgate error the stream ended with)."""


class ReturnDataSender:
    """Streams records in batches with at most `window` batches unanswered.

    `target` is a Connection, or a callable returning a new grpc.Channel (called again on
    every reconnect). Gives up after `give_up_after` seconds without progress.
    Raises only nikgate errors (see send()).
    """

    def __init__(self, target: Connection | Callable[[], grpc.Channel], *,
                 batch_size: int = 1000, window: int = 8, give_up_after: float = 60.0,
                 retry_wait: float = 0.2, on_ack: AckHook | None = None) -> None:
        if not 1 <= batch_size <= 10_000:
            raise InvalidInputError(f"batch_size must be 1-10,000, got {batch_size:,}",
                                    field="batch_size")
        self._connect = target.channel if isinstance(target, Connection) else target
        self._address = target.address if isinstance(target, Connection) else ""
        self.batch_size = batch_size
        self.window = max(1, window)
        self.give_up_after = give_up_after
        self.retry_wait = retry_wait
        self.on_ack = on_ack

    def send(self, records: Iterable[ReturnRecord]) -> SendReport:
        """Send every record; returns the report once each is acknowledged or rejected.

        A broken stream (the server restarting, the network, UNAVAILABLE, a quota's
        RESOURCE_EXHAUSTED) is resumed, resending what was not answered. Raises
        ServiceUnavailable after `give_up_after` s without an acknowledgement (its cause:
        the error the last stream ended with), SourceError (with the report so far) when
        `records` raised, and any other nikgate error the server ends the stream with
        (e.g. PermissionDenied, Unauthenticated, InvalidInputError)."""
        report = SendReport()
        source = _batches(iter(records), self.batch_size)
        unacked: OrderedDict[int, tuple[list[ReturnRecord], bytes]] = OrderedDict()
        lock = threading.Lock()
        state = {"exhausted": False, "attempt": 0}
        last_progress = time.monotonic()
        wait = self.retry_wait
        while True:
            with lock:
                state["attempt"] += 1
                attempt = state["attempt"]
                if state["exhausted"] and not unacked:
                    return self._finished(report, state)
            channel = self._connect()
            try:
                progressed = self._attempt(channel, source, unacked, lock, state, attempt,
                                           report)
                if progressed:
                    last_progress, wait = time.monotonic(), self.retry_wait
                with lock:
                    if state["exhausted"] and not unacked:
                        return self._finished(report, state)
            except StreamBroken as e:
                progressed, last_error = e.args
                if progressed:
                    last_progress, wait = time.monotonic(), self.retry_wait
                if time.monotonic() - last_progress > self.give_up_after:
                    raise ServiceUnavailable(
                        f"no acknowledgement for {self.give_up_after:g} s ({last_error}); "
                        f"{sum(len(b) for b, _ in unacked.values()):,} records "
                        "unacknowledged (resend them later: duplicates are stored once)"
                    ) from last_error
                report.reconnects += 1
                time.sleep(wait)
                wait = min(wait * 2, 2.0)
            finally:
                channel.close()

    @staticmethod
    def _finished(report: SendReport, state: dict) -> SendReport:
        error = state.get("source_error")
        if error is not None:
            raise SourceError(f"reading the records failed after {report.acknowledged:,} "
                              f"were acknowledged and {len(report.rejected):,} rejected: "
                              f"{error}", report) from error
        return report

    def _attempt(self, channel: grpc.Channel, source: Iterator, unacked: OrderedDict,
                 lock: threading.Lock, state: dict, attempt: int, report: SendReport) -> bool:
        """One stream: resend what is unanswered, then go on with the source. True when
        at least one batch was answered. Raises StreamBroken on a retryable failure."""
        slots = threading.Semaphore(self.window)
        with lock:
            resend = list(unacked.items())

        def requests() -> Iterator[bytes]:
            for _, (_, body) in resend:
                while not slots.acquire(timeout=0.1):
                    if state["attempt"] != attempt:
                        return
                yield body
            while True:
                while not slots.acquire(timeout=0.1):
                    if state["attempt"] != attempt:
                        return
                with lock:
                    if state["attempt"] != attempt:
                        return
                    try:
                        nxt = next(source, None)
                    except Exception as e:  # a bad input line: finish what was sent, then
                        state["source_error"] = e   # raise it from send()
                        nxt = None
                    if nxt is None:
                        state["exhausted"] = True
                        return
                    batch_id, batch = nxt
                    body = _encode(batch_id, batch)
                    unacked[batch_id] = (batch, body)
                yield body

        submit = channel.stream_stream(SUBMIT_METHOD, raw, raw)
        call = submit(requests())
        progressed = False
        try:
            for response in call:
                ack = pb.ReturnDataAcks.FromString(response)
                with lock:
                    batch, _ = unacked.pop(ack.batch_id, (None, None))
                slots.release()
                if batch is None:
                    continue  # answered twice across a reconnect: counted once
                progressed = True
                self._count(ack, batch, report)
        except grpc.RpcError as e:
            with lock:
                state["attempt"] += 1   # the request generator stops
            error = from_rpc_error(e, self._address)
            if e.code() in RETRYABLE:
                raise StreamBroken(progressed, error) from None
            raise error from e
        finally:
            call.cancel()
        return progressed

    def _count(self, ack: pb.ReturnDataAcks, batch: list[ReturnRecord],
               report: SendReport) -> None:
        report.batches += 1
        report.receipts += ack.HasField("receipt")
        status = ack.status
        report.stored += status.count(STORED)
        report.duplicates += status.count(DUPLICATE)
        for r in ack.rejections:
            name = pb.RejectReason.Name(r.reason).removeprefix("REJECT_REASON_")
            report.rejected.append(Rejected(batch[r.index], name, r.message))
        if self.on_ack is not None:
            self.on_ack(batch, status)


def _batches(records: Iterator[ReturnRecord], size: int) -> Iterator[tuple[int, list]]:
    """(batch id, records) in order; when the source raises, the records read before it
    still form a last batch, then the error is raised."""
    batch_id = 0
    while True:
        batch: list[ReturnRecord] = []
        error = None
        try:
            batch.extend(islice(records, size))
        except Exception as e:
            error = e
        if batch:
            batch_id += 1
            yield batch_id, batch
        if error is not None:
            raise error
        if len(batch) < size:
            return


def _encode(batch_id: int, batch: list[ReturnRecord]) -> bytes:
    observed = [r.observed_at_ms for r in batch]
    return pb.ReturnDataBatch(
        batch_id=batch_id, record_ids=[r.record_id for r in batch],
        niks=[r.nik for r in batch], kinds=[r.kind for r in batch],
        values=[r.value for r in batch],
        observed_at_ms=observed if any(observed) else ()).SerializeToString()


CSV_COLUMNS = ("record_id", "nik", "kind", "value", "observed_at")


def read_records_csv(path: str | Path) -> Iterator[ReturnRecord]:
    """Records from a CSV with a header naming record_id, nik, kind, value and optionally
    observed_at (ISO 8601 with offset, or unix milliseconds). Streams: any size.
    Raises InvalidInputError for a file that cannot be read or a malformed line."""
    try:
        yield from _read_csv(path)
    except UnicodeDecodeError as e:
        raise InvalidInputError(f"{path}: not UTF-8 text (byte {e.start:,} of a line)"
                                ) from None
    except csv.Error as e:
        raise InvalidInputError(f"{path}: {e}") from None
    except OSError as e:
        raise InvalidInputError(f"cannot read {path}: {e.strerror or e}") from None


def _read_csv(path: str | Path) -> Iterator[ReturnRecord]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in CSV_COLUMNS[:4] if c not in (reader.fieldnames or ())]
        if missing:
            raise InvalidInputError(f"{path}: header lacks column(s) {', '.join(missing)}; "
                                    f"expected {','.join(CSV_COLUMNS)}")
        for line, row in enumerate(reader, start=2):
            yield ReturnRecord(row["record_id"], row["nik"], row["kind"], row["value"],
                               _ms(row.get("observed_at") or "", path, line))


def _ms(text: str, path, line: int) -> int:
    text = text.strip()
    if not text:
        return 0
    if text.isdigit():
        return int(text)
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"{path}:{line}: observed_at {text!r} is neither ISO 8601 "
                                "nor unix milliseconds", field="observed_at") from None
    if t.tzinfo is None:
        raise InvalidInputError(f"{path}:{line}: observed_at {text!r} needs a UTC offset, "
                                "e.g. +07:00", field="observed_at") from None
    return int(t.timestamp() * 1000)


def obligations(target: Connection | grpc.Channel, institution: str = "",
                max_items: int = 100, timeout: float = 30.0) -> pb.ObligationsResponse:
    """What an institution owes (its own, or any with an operator certificate).

    Raises PermissionDenied for another institution's obligations without an operator
    certificate, or any other nikgate error the call ends with."""
    channel = target.channel() if isinstance(target, Connection) else target
    try:
        fn = channel.unary_unary(OBLIGATIONS_METHOD, raw, raw)
        body = pb.ObligationsRequest(institution_id=institution,
                                     max_items=max_items).SerializeToString()
        with mapped(target.address if isinstance(target, Connection) else ""):
            response = fn(body, timeout=timeout)
        return pb.ObligationsResponse.FromString(response)
    finally:
        if isinstance(target, Connection):
            channel.close()
