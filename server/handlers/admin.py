"""nikgate.v1.Admin: institutions, grants, the SAM registry and the index generation a
worker serves, for operator certificates only."""

from __future__ import annotations

import asyncio
import dataclasses
import os

from nikgate.errors import InvalidInputError
from nikgate.v1 import admin_pb2 as pb

from ..access.admin import Admin
from ..access.grants import Grant
from ..access.sams import Sam
from ..calls import Call
from ..index_holder import ServingIndex

SERVICE = "nikgate.v1.Admin"


def _to_pb(g: Grant) -> pb.Grant:
    return pb.Grant(
        institution=g.institution, operations=g.operations,
        fields={op: pb.FieldList(names=names) for op, names in g.fields.items()},
        channels=g.channels, purpose=g.purpose, valid_from=g.valid_from,
        valid_until=g.valid_until, status=g.status, status_reason=g.status_reason,
        daily_quota=g.daily_quota, rate_per_second=g.rate_per_second, burst=g.burst,
        max_batch=g.max_batch, return_data_kinds=g.return_data_kinds, updated_at=g.updated_at,
        return_deadline_days=g.return_deadline_days, purposes=g.purposes,
        networks=g.networks)


def _from_pb(m: pb.Grant) -> Grant:
    return Grant(
        institution=m.institution, operations=tuple(m.operations),
        fields={op: tuple(f.names) for op, f in m.fields.items()},
        channels=tuple(m.channels) or ("web_service",), purpose=m.purpose,
        valid_from=m.valid_from, valid_until=m.valid_until, status=m.status or "active",
        status_reason=m.status_reason, daily_quota=m.daily_quota,
        rate_per_second=m.rate_per_second, burst=m.burst, max_batch=m.max_batch or 10_000,
        return_data_kinds=tuple(m.return_data_kinds),
        return_deadline_days=m.return_deadline_days, purposes=tuple(m.purposes),
        networks=tuple(m.networks))


def _sam_to_pb(s: Sam) -> pb.Sam:
    return pb.Sam(sam_id=s.sam_id, institution=s.institution,
                  public_key_pem=s.public_key_pem.encode(), reader_serial=s.reader_serial,
                  status=s.status, status_reason=s.status_reason, updated_at=s.updated_at)


class AdminHandlers:
    """Operator certificates only: the guard checks the role before a request is parsed."""

    def __init__(self, store, audit_dir: str | None = None,
                 audit_key: str | None = None, serving: ServingIndex | None = None,
                 worker_id: int | None = None) -> None:
        self.store = store
        self.serving = serving        # the worker's index generation (GetServing)
        self.worker_id = worker_id or 0
        # Changes take their turn on the "admin" audit stream, as the CLI's do: the change
        # and its record there succeed or fail together (the per-call record comes on top).
        self.audit_dir = audit_dir
        self.audit_key = audit_key

    def _admin(self, call: Call, action: str, detail: str) -> Admin:
        call.operation = f"admin.{action}"
        call.purpose = detail[:500]   # what changed goes to the audit record of this call
        return Admin(self.store, operator=call.caller.principal if call.caller else "-",
                     audit_dir=self.audit_dir, audit_key=self.audit_key)

    async def add_institution(self, req: pb.AddInstitutionRequest, call: Call) -> pb.Institution:
        if not req.name:
            raise InvalidInputError("name is empty", field="name")
        admin = self._admin(call, "institution.add", f"{req.id}: {req.name} ({req.kind})")
        inst = await _off_loop(admin.add_institution, req.id, req.name, req.kind or "other")
        return pb.Institution(**dataclasses.asdict(inst))

    async def list_institutions(self, req: pb.ListInstitutionsRequest,
                                call: Call) -> pb.ListInstitutionsResponse:
        self._admin(call, "institution.list", "")
        _, institutions, grants = self.store.snapshot()
        out = [pb.Institution(**dataclasses.asdict(i),
                              grant_status=grants[i.id].status if i.id in grants else "")
               for i in sorted(institutions.values(), key=lambda x: x.id)]
        return pb.ListInstitutionsResponse(institutions=out)

    async def set_grant(self, req: pb.Grant, call: Call) -> pb.Grant:
        admin = self._admin(call, "grant.set", f"{req.institution}: "
                                               f"{','.join(req.operations)}")
        return _to_pb(await _off_loop(admin.set_grant, _from_pb(req)))

    async def set_grant_status(self, req: pb.SetGrantStatusRequest, call: Call) -> pb.Grant:
        if req.status not in ("active", "suspended", "revoked"):
            raise InvalidInputError("status must be active, suspended or revoked",
                                    field="status")
        if req.status != "active" and not req.reason:
            raise InvalidInputError("a reason is required to suspend or revoke",
                                    field="reason")
        admin = self._admin(call, f"grant.{req.status}", f"{req.institution}: {req.reason}")
        return _to_pb(await _off_loop(admin.set_status, req.institution, req.status,
                                      req.reason))

    async def get_grant(self, req: pb.GetGrantRequest, call: Call) -> pb.Grant:
        self._admin(call, "grant.get", req.institution)
        _, _, grants = self.store.snapshot()
        if req.institution not in grants:
            raise InvalidInputError(f"{req.institution} has no grant", field="institution")
        return _to_pb(grants[req.institution])

    async def get_usage(self, req: pb.GetUsageRequest, call: Call) -> pb.Usage:
        admin = self._admin(call, "usage.get", req.institution)
        u = admin.usage(req.institution, req.day or None)
        return pb.Usage(institution=req.institution, day=u.day, items=u.items, total=u.total)


    # -- the SAM registry (card readers) ------------------------------------------------------

    async def register_sam(self, req: pb.RegisterSamRequest, call: Call) -> pb.Sam:
        admin = self._admin(call, "sam.register", f"{req.sam_id} for {req.institution}")
        return _sam_to_pb(await _off_loop(admin.register_sam, req.sam_id, req.institution,
                                          req.public_key_pem))

    async def activate_sam(self, req: pb.ActivateSamRequest, call: Call) -> pb.Sam:
        action = "sam.rebind" if req.rebind else "sam.activate"
        admin = self._admin(call, action, f"{req.sam_id} on reader {req.reader_serial}")
        return _sam_to_pb(await _off_loop(admin.activate_sam, req.sam_id, req.reader_serial,
                                          req.rebind))

    async def revoke_sam(self, req: pb.RevokeSamRequest, call: Call) -> pb.Sam:
        admin = self._admin(call, "sam.revoke", f"{req.sam_id}: {req.reason}")
        return _sam_to_pb(await _off_loop(admin.revoke_sam, req.sam_id, req.reason))

    async def list_sams(self, req: pb.ListSamsRequest, call: Call) -> pb.ListSamsResponse:
        admin = self._admin(call, "sam.list", req.institution)
        return pb.ListSamsResponse(sams=[_sam_to_pb(s)
                                         for s in admin.list_sams(req.institution or None)])

    # -- the index generation this worker serves ------------------------------------------

    async def get_serving(self, req: pb.GetServingRequest, call: Call) -> pb.Serving:
        call.operation = "admin.index.reload" if req.reload else "admin.index.serving"
        if self.serving is None:
            raise InvalidInputError("this server was started with a fixed index: it does "
                                    "not follow new generations", field="reload")
        reloaded = await self.serving.reload(force=True) if req.reload else False
        s = self.serving.serving()
        return pb.Serving(worker_id=self.worker_id, pid=os.getpid(), generation=s.generation,
                          index_path=s.path, record_count=s.record_count,
                          opened_at=s.opened_at, built_at=s.built_at,
                          generations_open=s.generations_open, last_error=s.last_error,
                          swaps=s.swaps, reloaded=reloaded)


async def _off_loop(fn, *args):
    """Run an admin change in a thread: it may wait its turn on the admin audit stream."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)
