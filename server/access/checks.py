"""The access checks a data call goes through, in the order handlers run them.

policy.py decides what a grant allows; this module applies that to one call: make the
requested field names canonical, throttle what looks like enumeration (scraping.py),
authorize against the institution's grant (operation, fields, channel, network, quota,
purpose), and record on the call what it asked for, for its audit record. After the call
it feeds what was found to the scraping guard and to the return-data ledger. Handlers
hold one `Access` and call it; they never read the policy themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nikgate.engine.claims import canonical_fields
from nikgate.errors import LimitExceeded, PermissionDenied

from .grants import PURPOSE_CODE
from .policy import check_purpose

if TYPE_CHECKING:
    from ..calls import Call


class Access:
    """The access-rights check as handlers use it: record what the call asks, then check.

    Names are made canonical first (a malformed request is INVALID_ARGUMENT whoever sends
    it); only canonical names and a validated purpose reach the call's audit record. With
    enforcement off (benchmarks only) it records and allows.
    """

    def __init__(self, policy, enforce: bool = True, scraping=None, ledger=None) -> None:
        self.policy = policy
        self.enforce = enforce
        self.scraping = scraping
        self.ledger = ledger          # returns.ledger.AccessLedger: what is owed back

    def check(self, call: Call, operation: str, fields, items: int,
              purpose: str = "") -> tuple[str, ...]:
        """Authorize the call; returns the canonical field names it asked for."""
        call.operation = operation
        names = canonical_fields(fields, operation)
        call.fields_requested = names
        institution = _institution_of(call)
        if self.enforce:
            if self.scraping is not None:
                wait = self.scraping.admit(institution, items)
                if wait > 0:
                    raise LimitExceeded(
                        f"calls from {institution} look like enumeration and are throttled to "
                        f"{self.scraping.throttled_rate:g} NIKs/s; retry in {wait:.1f} s",
                        "scraping", f"{institution}:scraping", wait)
            grant = self.policy.authorize(institution, operation, names, items, call.channel,
                                          peer=call.peer, purpose=purpose)
            call.purpose = check_purpose(grant, purpose)
        else:
            call.purpose = purpose if PURPOSE_CODE.match(purpose) else ""
        return names

    def authorize_unmetered(self, call: Call, operation: str, items: int):
        """The grant for a call that uses no quota (return data flowing back)."""
        institution = _institution_of(call)
        if not self.enforce:
            return self.policy.grant(institution)
        return self.policy.authorize(institution, operation, (), items, call.channel,
                                     metered=False, peer=call.peer)

    def observe(self, call: Call) -> None:
        """After a call: feed its NIKs and item statuses to the scraping guard, and note
        the NIKs found in the ledger when the grant carries a return-data duty."""
        if not (self.enforce and call.item_results):
            return
        institution = call.caller.institution_id
        if self.scraping is not None:
            self.scraping.observe(institution, call.niks, call.item_results)
        if self.ledger is not None:
            grant = self.policy.grant(institution)
            if grant is not None and grant.return_deadline_days > 0:
                self.ledger.note(institution, call.niks, call.item_results)


def _institution_of(call: Call) -> str:
    """The institution a data call acts for; other kinds of identity have no grant."""
    caller = call.caller
    if not caller.is_institution:
        raise PermissionDenied(
            f"a {caller.kind} certificate ({caller.institution_id}) cannot call "
            f"{call.method}: only an institution's certificate carries a grant")
    return caller.institution_id
