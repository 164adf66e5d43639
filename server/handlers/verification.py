"""nikgate.v1.Verification: Verify, VerifyBatch, VerifyStream."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

from nikgate.engine import NikIndex
from nikgate.errors import InvalidInputError
from nikgate.v1 import verification_pb2 as pb

from ..calls import Call
from ..receipts import ReceiptSigner
from .batching import Access, batch_niks, check_item_ids, run_batch

SERVICE = "nikgate.v1.Verification"
# engine Outcome (0 not provided, 1 match, 2 no match) -> proto Outcome (+1)
_OUTCOME = bytes(range(1, 256)) + b"\x00"
_LIFE = {"HIDUP": 1, "MATI": 2}
_CARD = {"AKTIF": 1, "DIGANTI": 2, "DIBLOKIR": 3}


class VerificationHandlers:
    def __init__(self, index: NikIndex, signer: ReceiptSigner, access: Access,
                 max_items: int) -> None:
        self.index = index
        self.signer = signer
        self.access = access
        self.max_items = max_items

    async def verify(self, request: bytes, call: Call) -> bytes:
        req = pb.VerifyRequest.FromString(request)
        if not req.nik:
            raise InvalidInputError("nik is empty: send the 16-digit NIK", field="nik")
        call.purpose, call.niks, call.items = req.purpose, (req.nik,), 1
        self.access.check(call, "verify", tuple(req.claims), 1)
        result = self.index.verify(req.nik, dict(req.claims), dict(req.thresholds) or None)
        call.fields_returned = tuple(r.field.name for r in result.fields)
        call.item_results = bytes((int(result.status),))
        self.access.observe(call)
        resp = pb.VerifyResponse(
            transaction_id=call.tx,
            request_id=req.request_id,
            status=int(result.status),
            fields=[pb.FieldResult(field=r.field.name, outcome=int(r.outcome) + 1,
                                   score=r.score, threshold=r.threshold)
                    for r in result.fields],
            life_status=_LIFE.get(result.life_status, 0),
            card_status=_CARD.get(result.card_status, 0),
        )
        return self.signer.seal(resp.SerializeToString(), request, call.tx,
                                f"/{SERVICE}/Verify", call.caller.institution_id)

    def _batch(self, req: pb.VerifyBatchRequest, call: Call) -> pb.VerifyBatchResponse:
        niks = batch_niks(req.niks, req.nik_numbers, self.max_items)
        n = len(niks)
        item_ids = check_item_ids(req.item_ids, n)
        if len(req.fields) != len(req.columns):
            raise InvalidInputError(f"{len(req.fields)} fields but {len(req.columns)} claim "
                                    "columns: send one column per field", field="columns")
        claims = {}
        for name, column in zip(req.fields, req.columns):
            values = column.values
            if len(values) != n:
                raise InvalidInputError(f"claim column {name} has {len(values)} values for {n} "
                                        "items; send one per item (empty = not claimed)",
                                        field="columns")
            claims[name] = values  # the engine takes one copy
        call.purpose, call.niks, call.items = req.purpose, niks, n
        self.access.check(call, "verify_batch", tuple(req.fields), n)
        result = self.index.verify_batch(niks, claims, dict(req.thresholds) or None)
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

    async def verify_batch(self, request: bytes, call: Call) -> bytes:
        req = pb.VerifyBatchRequest.FromString(request)
        n = len(req.niks) + len(req.nik_numbers)
        resp = await run_batch(n, lambda: self._batch(req, call))
        return self.signer.seal(resp.SerializeToString(), request, call.tx,
                                f"/{SERVICE}/VerifyBatch", call.caller.institution_id)

    async def verify_stream(self, requests: AsyncIterator[bytes],
                            call: Call) -> AsyncIterator[tuple[bytes, Call]]:
        seq = 0
        async for request in requests:
            seq += 1
            part = dataclasses.replace(call, tx=f"{call.tx}.{seq}")
            req = pb.VerifyBatchRequest.FromString(request)
            n = len(req.niks) + len(req.nik_numbers)
            resp = await run_batch(n, lambda: self._batch(req, part))  # noqa: B023
            yield self.signer.seal(resp.SerializeToString(), request, part.tx,
                                   f"/{SERVICE}/VerifyStream", call.caller.institution_id), part
