"""nikgate.v1.Lookup: Lookup, LookupBatch: the requested fields only."""

from __future__ import annotations

from nikgate.engine import ItemStatus, NikIndex
from nikgate.errors import InvalidInputError
from nikgate.v1 import lookup_pb2 as pb

from ..identity import Caller
from ..receipts import ReceiptSigner
from .batching import batch_niks, check_item_ids, run_batch

SERVICE = "nikgate.v1.Lookup"


def _fields(fields) -> list[str]:
    if not fields:
        raise InvalidInputError("no fields requested: name the fields you need, e.g. "
                                "NAMA_LGKP, TGL_LHR", field="fields")
    return list(fields)


class LookupHandlers:
    def __init__(self, index: NikIndex, signer: ReceiptSigner, max_items: int) -> None:
        self.index = index
        self.signer = signer
        self.max_items = max_items

    async def lookup(self, request: bytes, caller: Caller, tx: str) -> tuple[bytes, int]:
        req = pb.LookupRequest.FromString(request)
        if not req.nik:
            raise InvalidInputError("nik is empty: send the 16-digit NIK", field="nik")
        values = self.index.lookup(req.nik, _fields(req.fields))
        resp = pb.LookupResponse(
            transaction_id=tx, request_id=req.request_id,
            status=int(ItemStatus.FOUND if values is not None else ItemStatus.NOT_FOUND),
            values={k: v or "" for k, v in (values or {}).items()})
        return self.signer.seal(resp.SerializeToString(), request, tx, f"/{SERVICE}/Lookup",
                                caller.institution_id), 1

    def _batch(self, req: pb.LookupBatchRequest, tx: str) -> pb.LookupBatchResponse:
        niks = batch_niks(req.niks, req.nik_numbers, self.max_items)
        item_ids = check_item_ids(req.item_ids, len(niks))
        result = self.index.lookup_batch(niks, _fields(req.fields))
        return pb.LookupBatchResponse(
            transaction_id=tx, request_id=req.request_id,
            fields=[f.name for f in result.fields], status=result.status,
            columns=[pb.ValueColumn(values=[v or "" for v in col]) for col in result.values],
            problems=result.problems, item_ids=item_ids)

    async def lookup_batch(self, request: bytes, caller: Caller, tx: str) -> tuple[bytes, int]:
        req = pb.LookupBatchRequest.FromString(request)
        n = len(req.niks) + len(req.nik_numbers)
        resp = await run_batch(n, lambda: self._batch(req, tx))
        return self.signer.seal(resp.SerializeToString(), request, tx,
                                f"/{SERVICE}/LookupBatch", caller.institution_id), n
