"""nikgate.v1.Account: an institution reads its own grant and usage (self-service).

The caller is always the institution the call is for (direct, or through an adapter acting
for it: server/identity.py); it never names one, so it cannot read another's. Operators are
refused: Admin GetGrant and GetUsage are theirs. No NIK is read, so nothing is counted
against the quota and no grant check applies (a suspended grant is shown with its reason);
the guard audits every call as usual.
"""

from __future__ import annotations

import datetime as dt
import time

from nikgate.errors import InvalidInputError, PermissionDenied
from nikgate.v1 import account_pb2 as pb
from nikgate.v1 import admin_pb2

from ..access.admin import Admin
from ..access.store import Control, today_wib
from ..calls import Call
from .admin import _to_pb as grant_to_pb

SERVICE = "nikgate.v1.Account"


class AccountHandlers:
    def __init__(self, store: Control) -> None:
        self.store = store

    @staticmethod
    def _institution(call: Call, what: str) -> str:
        caller = call.caller
        if not caller.is_institution:
            raise PermissionDenied(
                f"{SERVICE} is for institutions reading their own {what}; this is a "
                f"{caller.kind} identity ({caller.institution_id}): operators use "
                f"nikgate.v1.Admin (GetGrant, GetUsage)")
        return caller.institution_id

    async def get_my_grant(self, req: pb.GetMyGrantRequest, call: Call) -> admin_pb2.Grant:
        institution = self._institution(call, "grant")
        call.operation = "account.grant"
        _, _, grants = self.store.snapshot()
        grant = grants.get(institution)
        if grant is None:
            raise PermissionDenied(f"{institution} has no grant (hak akses) yet: ask Dukcapil "
                                   "for one under your PKS")
        return grant_to_pb(grant)

    async def get_my_usage(self, req: pb.GetMyUsageRequest,
                           call: Call) -> pb.GetMyUsageResponse:
        institution = self._institution(call, "usage")
        days = req.days or 1   # at most inputs.MAX_VALUES["days"], checked by the guard
        call.operation = "account.usage"
        # The day's form and the institution are checked as for Admin GetUsage.
        last = Admin(self.store, operator=call.caller.principal).usage(institution,
                                                                       req.day or None)
        end = dt.date.fromisoformat(last.day)
        try:
            names = [(end - dt.timedelta(days=n)).isoformat() for n in range(days - 1, 0, -1)]
        except OverflowError:
            raise InvalidInputError(f"day {last.day} leaves no room for {days} days before "
                                    "it", field="day") from None
        call.purpose = f"{names[0] if names else last.day}..{last.day}"
        usage = [self.store.usage(institution, d) for d in names] + [last]
        today = today_wib(time.time())
        used_today = (last.total if last.day == today
                      else self.store.usage(institution, today).total)
        _, _, grants = self.store.snapshot()
        grant = grants.get(institution)
        quota = grant.daily_quota if grant is not None else 0
        return pb.GetMyUsageResponse(
            institution=institution,
            usage=[admin_pb2.Usage(institution=institution, day=u.day, items=u.items,
                                   total=u.total) for u in usage],
            today=today, used_today=used_today, daily_quota=quota,
            quota_left_today=max(0, quota - used_today) if quota else 0,
            grant_status=grant.status if grant is not None else "",
            grant_status_reason=grant.status_reason if grant is not None else "")
