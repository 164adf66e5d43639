"""nikgate.v1.ReturnData: Submit (data balikan, acknowledged once durable), Obligations."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from nikgate.errors import InvalidInputError, PermissionDenied
from nikgate.redact import redact
from nikgate.v1 import return_data_pb2 as pb

from ..calls import Call
from ..returns.committer import ReturnCommitter
from ..returns.kinds import record_id_ok
from ..returns.obligations import compute
from ..returns.store import DUPLICATE, STORED, Returns, Submission

SERVICE = "nikgate.v1.ReturnData"
MAX_RECORDS = 10_000
_END = object()


class ReturnDataHandlers:
    def __init__(self, store: Returns, committer: ReturnCommitter, access,
                 window: int) -> None:
        self.store = store
        self.committer = committer
        self.access = access          # access.checks.Access
        self.window = window

    def _submission(self, req: pb.ReturnDataBatch, part: Call) -> Submission:
        n = len(req.record_ids)
        if not 1 <= n <= MAX_RECORDS:
            raise InvalidInputError(f"a batch holds 1 to {MAX_RECORDS:,} records; this one has "
                                    f"{n:,}", field="record_ids")
        for name in ("niks", "kinds", "values"):
            if len(getattr(req, name)) != n:
                raise InvalidInputError(f"{name} has {len(getattr(req, name)):,} entries for "
                                        f"{n:,} record ids: send one per record",
                                        field=name)
        if req.observed_at_ms and len(req.observed_at_ms) != n:
            raise InvalidInputError(f"observed_at_ms has {len(req.observed_at_ms):,} entries "
                                    f"for {n:,} records: send one per record or none",
                                    field="observed_at_ms")
        niks = list(req.niks)
        part.niks, part.items = niks, n
        part.operation, part.fields_requested = "return_data", ()
        grant = self.access.authorize_unmetered(part, "return_data", n)
        return Submission(
            institution=part.institution,
            kinds_granted=frozenset(grant.return_data_kinds) if grant else frozenset(),
            record_ids=list(req.record_ids), niks=niks, kinds=list(req.kinds),
            values=list(req.values), observed=list(req.observed_at_ms),
            received_ms=time.time_ns() // 1_000_000, call=part)

    async def submit(self, messages: AsyncIterator[tuple[pb.ReturnDataBatch, Call]]
                     ) -> AsyncIterator[tuple[pb.ReturnDataAcks, Call]]:
        # A reader task takes batches off the wire and hands them to the committer; this
        # generator answers them in order. The queue holds at most `window` batches: when
        # it is full the reader stops reading and HTTP/2 flow control holds the producer.
        # The committer writes each batch's audit record inside its store transaction.
        queue: asyncio.Queue = asyncio.Queue(self.window)

        async def read() -> None:
            try:
                async for req, part in messages:
                    sub = self._submission(req, part)
                    task = asyncio.ensure_future(self.committer.submit(sub))
                    await queue.put((req.batch_id, part, task))
                await queue.put(_END)
            except BaseException as e:  # surfaced in order, after earlier batches' acks
                await queue.put(e)
                if isinstance(e, asyncio.CancelledError):
                    raise

        reader = asyncio.create_task(read())
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                batch_id, part, task = item
                sub = await task
                part.audited = True      # by the committer, before the store commit
                yield pb.ReturnDataAcks(
                    batch_id=batch_id, transaction_id=part.tx, status=bytes(sub.status),
                    rejections=[pb.Rejection(index=i, record_id=_echo_id(sub.record_ids[i]),
                                             reason=reason, message=message)
                                for i, reason, message in sorted(sub.rejections)],
                    stored=sub.status.count(STORED),
                    duplicates=sub.status.count(DUPLICATE)), part
        finally:
            reader.cancel()

    async def obligations(self, req: pb.ObligationsRequest,
                          call: Call) -> pb.ObligationsResponse:
        caller = call.caller
        institution = req.institution_id or caller.institution_id
        if caller.kind == "operator":
            if not req.institution_id:
                raise InvalidInputError("an operator must name the institution whose "
                                        "obligations to show", field="institution_id")
        elif not caller.is_institution or institution != caller.institution_id:
            raise PermissionDenied(f"{caller.institution_id} may see its own obligations "
                                   "only; other institutions' need an operator certificate")
        if req.max_items > 10_000:
            raise InvalidInputError("max_items is at most 10,000", field="max_items")
        call.operation, call.purpose = "obligations", institution
        grant = self.access.policy.grant(institution)
        if grant is None:
            raise InvalidInputError(f"{institution} has no grant", field="institution_id")
        now = time.time_ns() // 1_000_000
        ob = await asyncio.get_running_loop().run_in_executor(
            None, compute, self.store, institution, grant.return_deadline_days, now,
            req.max_items or 100)
        return pb.ObligationsResponse(
            institution_id=institution, deadline_days=grant.return_deadline_days,
            accessed=ob.accessed, fulfilled=ob.fulfilled, late=ob.late, pending=ob.pending,
            overdue=ob.overdue, compliance_ratio=ob.compliance_ratio,
            outstanding=[pb.OutstandingItem(nik=f"{nik:016d}", first_accessed_ms=first,
                                            due_ms=due, overdue=overdue)
                         for nik, first, due, overdue in ob.outstanding],
            grant_status=grant.status, computed_at_ms=now)


def _echo_id(record_id: str) -> str:
    """A record id as an ack may show it: a malformed one (any length, any text) redacted."""
    return record_id if record_id_ok(record_id) else redact(record_id)
