"""nikgate.v1.Verification: Verify, VerifyBatch, VerifyStream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

from nikgate import codes
from nikgate.engine.claims import canonical_name
from nikgate.engine.nik import check_nik
from nikgate.engine.results import ItemStatus, Outcome
from nikgate.errors import InvalidInputError
from nikgate.v1 import common_pb2
from nikgate.v1 import verification_pb2 as pb

from ..access.checks import Access
from ..calls import Call
from ..index_holder import ServingIndex
from .batching import batch_niks, check_item_ids, run_batch

SERVICE = "nikgate.v1.Verification"
# Engine values -> proto numbers come from nikgate/codes.py (derived from the descriptors,
# checked on import). Batch answers send item statuses and life/card codes as they are.
_OUTCOME = codes.OUTCOME_BYTES
_FOUND = int(ItemStatus.FOUND)
_NOT_PROVIDED = bytes((codes.OUTCOME[Outcome.NOT_PROVIDED],))


class VerificationHandlers:
    def __init__(self, index: ServingIndex, access: Access, max_items: int) -> None:
        self.index = index   # one generation per call: acquire() (server/index_holder.py)
        self.access = access
        self.max_items = max_items

    async def verify(self, req: pb.VerifyRequest, call: Call) -> pb.VerifyResponse:
        nik = req.nik
        check_nik(nik)   # the NIK's fault first, as the engine words it (EMPTY included)
        call.niks, call.items = (nik,), 1
        self.access.check(call, "verify", tuple(req.claims), 1, req.purpose)
        with self.index.acquire() as index:
            plan, status, life, card, outcomes, scores = index.verify_codes(
                nik, req.claims, dict(req.thresholds) or None)
        names = plan.names
        call.fields_returned = names
        call.item_results = bytes((status,))
        self.access.observe(call)
        if status == _FOUND:
            outcomes = outcomes.translate(_OUTCOME)
        else:   # nothing to compare with: every field NOT_PROVIDED, no life or card status
            outcomes, life, card = _NOT_PROVIDED * len(names), 0, 0
        return pb.VerifyResponse(
            transaction_id=call.tx,
            request_id=req.request_id,
            # engine item statuses, life and card codes are the proto numbers (nikgate/codes.py
            # checks it on import); outcomes were translated above
            status=cast(common_pb2.ItemStatus, status),
            fields=[pb.FieldResult(field=name, outcome=cast(common_pb2.Outcome, outcomes[f]),
                                   score=scores[f], threshold=threshold)
                    for f, (name, threshold) in enumerate(zip(names, plan.thresholds,
                                                              strict=True))],
            life_status=cast(common_pb2.LifeStatus, life),
            card_status=cast(common_pb2.CardStatus, card),
        )

    def _batch(self, req: pb.VerifyBatchRequest, call: Call) -> pb.VerifyBatchResponse:
        niks = batch_niks(req.niks, req.nik_numbers, self.max_items)
        n = len(niks)
        item_ids = check_item_ids(req.item_ids, n)
        if len(req.fields) != len(req.columns):
            raise InvalidInputError(f"{len(req.fields)} fields but {len(req.columns)} claim "
                                    "columns: send one column per field", field="columns")
        for f, column in enumerate(req.columns):
            if len(column.values) != n:
                raise InvalidInputError(f"claim column {f} has {len(column.values)} values for "
                                        f"{n} items; send one per item (empty = not claimed)",
                                        field="columns")
        call.niks, call.items = niks, n
        self.access.check(call, "verify_batch", tuple(req.fields), n, req.purpose)
        # the engine takes one copy of each column; names are canonical once checked
        claims = {canonical_name(name).name: column.values  # type: ignore[union-attr]
                  for name, column in zip(req.fields, req.columns)}
        with self.index.acquire() as index:   # held while the batch runs, in any thread
            result = index.verify_batch(niks, claims, dict(req.thresholds) or None)
        call.fields_returned = tuple(f.name for f in result.fields)
        call.item_results = result.status
        self.access.observe(call)
        return pb.VerifyBatchResponse(
            transaction_id=call.tx,
            request_id=req.request_id,
            fields=[f.name for f in result.fields],
            thresholds=result.thresholds,
            status=result.status,
            outcomes=result.outcomes.translate(_OUTCOME),
            scores=result.scores,
            life_status=result.life,
            card_status=result.card,
            problems=result.problems,
            item_ids=item_ids,
        )

    async def verify_batch(self, req: pb.VerifyBatchRequest,
                           call: Call) -> pb.VerifyBatchResponse:
        n = len(req.niks) + len(req.nik_numbers)
        return await run_batch(n, lambda: self._batch(req, call))

    async def verify_stream(self, messages: AsyncIterator[tuple[pb.VerifyBatchRequest, Call]]
                            ) -> AsyncIterator[tuple[pb.VerifyBatchResponse, Call]]:
        async for req, part in messages:
            n = len(req.niks) + len(req.nik_numbers)
            yield await run_batch(n, lambda: self._batch(req, part)), part  # noqa: B023
