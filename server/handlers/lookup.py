"""nikgate.v1.Lookup: Lookup, LookupBatch: the requested fields only."""

from __future__ import annotations

from nikgate import codes
from nikgate.engine import ItemStatus
from nikgate.engine.nik import check_nik
from nikgate.errors import InvalidInputError
from nikgate.v1 import lookup_pb2 as pb

from ..access.checks import Access
from ..calls import Call
from ..index_holder import ServingIndex
from .batching import batch_niks, check_item_ids, run_batch

SERVICE = "nikgate.v1.Lookup"


def _fields(fields) -> tuple[str, ...]:
    if not fields:
        raise InvalidInputError("no fields requested: name the fields you need, e.g. "
                                "NAMA_LGKP, TGL_LHR", field="fields")
    return tuple(fields)


class LookupHandlers:
    def __init__(self, index: ServingIndex, access: Access, max_items: int) -> None:
        self.index = index   # one generation per call: acquire() (server/index_holder.py)
        self.access = access
        self.max_items = max_items

    async def lookup(self, req: pb.LookupRequest, call: Call) -> pb.LookupResponse:
        nik = req.nik
        check_nik(nik)   # the NIK's fault first, as the engine words it (EMPTY included)
        call.niks, call.items = (nik,), 1
        fields = self.access.check(call, "lookup", _fields(req.fields), 1, req.purpose)
        with self.index.acquire() as index:
            values = index.lookup(nik, fields)
        status = ItemStatus.FOUND if values is not None else ItemStatus.NOT_FOUND
        call.item_results = bytes((int(status),))
        self.access.observe(call)
        call.fields_returned = fields if values is not None else ()
        return pb.LookupResponse(transaction_id=call.tx, request_id=req.request_id,
                                 status=codes.ITEM_STATUS[status],
                                 values={k: v or "" for k, v in (values or {}).items()})

    def _batch(self, req: pb.LookupBatchRequest, call: Call) -> pb.LookupBatchResponse:
        niks = batch_niks(req.niks, req.nik_numbers, self.max_items)
        item_ids = check_item_ids(req.item_ids, len(niks))
        call.niks, call.items = niks, len(niks)
        fields = self.access.check(call, "lookup", _fields(req.fields), len(niks),
                                   req.purpose)
        with self.index.acquire() as index:   # held while the batch runs, in any thread
            result = index.lookup_batch(niks, fields)
        call.item_results = result.status
        self.access.observe(call)
        call.fields_returned = fields
        return pb.LookupBatchResponse(
            transaction_id=call.tx, request_id=req.request_id,
            fields=[f.name for f in result.fields], status=result.status,
            columns=[pb.ValueColumn(values=[v or "" for v in col]) for col in result.values],
            problems=result.problems, item_ids=item_ids)

    async def lookup_batch(self, req: pb.LookupBatchRequest,
                           call: Call) -> pb.LookupBatchResponse:
        n = len(req.niks) + len(req.nik_numbers)
        return await run_batch(n, lambda: self._batch(req, call))
