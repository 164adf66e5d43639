"""The portal's calls to nikgate: over mutual TLS with the portal adapter's certificate,
on behalf of the signed-in user (the delegation headers, docs/portal.md).

An institution's user gets `nikgate-on-behalf-of: <institution>`, a Dukcapil operator
`nikgate-on-behalf-of-operator: <operator id>`; both send `nikgate-portal-user`. The
server then applies that institution's grant with channel `portal` (or the operator's
rights) and names the portal and the user in its audit record and receipt. One channel per
(who, user), kept in a small LRU cache: a user's calls share one HTTP/2 connection.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc

from nikgate.clients import AsyncNikgateClient, Connection, ReturnDataSender, obligations
from nikgate.clients.errors import mapped
from nikgate.clients.requests import raw
from nikgate.clients.return_data import ReturnRecord, SendReport
from nikgate.methods import rpc
from nikgate.v1 import account_pb2, return_data_pb2
from nikgate.v1 import admin_pb2 as apb

from .store import User

ON_BEHALF_OF = "nikgate-on-behalf-of"
ON_BEHALF_OF_OPERATOR = "nikgate-on-behalf-of-operator"
PORTAL_USER = "nikgate-portal-user"
WIB = dt.timezone(dt.timedelta(hours=7))
CACHE = 256


def today_wib() -> dt.date:
    return dt.datetime.now(WIB).date()


@dataclass(frozen=True)
class Target:
    address: str
    ca: Path
    cert: Path
    key: Path
    server_name: str = "localhost"


class Nikgate:
    """Clients and channels per acting user; every method raises nikgate errors only."""

    def __init__(self, target: Target) -> None:
        self._base = Connection(target.address, target.ca, target.cert, target.key,
                                server_name=target.server_name)
        self._clients: OrderedDict[tuple[str, ...], AsyncNikgateClient] = OrderedDict()

    def connection(self, user: User) -> Connection:
        """The adapter's connection with the headers that act for `user` (as its
        institution, or as the operator it is)."""
        if user.is_operator:
            head = (ON_BEHALF_OF_OPERATOR, user.institution)
        else:
            head = (ON_BEHALF_OF, user.institution)
        return replace(self._base, metadata=(head, (PORTAL_USER, user.email)))

    def client(self, user: User) -> AsyncNikgateClient:
        key = (user.id, user.institution, user.role)
        client = self._clients.get(key)
        if client is None:
            client = AsyncNikgateClient(self.connection(user), deadline=30.0)
            self._clients[key] = client
            if len(self._clients) > CACHE:
                _, old = self._clients.popitem(last=False)
                asyncio.get_running_loop().create_task(old.close())
        else:
            self._clients.move_to_end(key)
        return client

    async def forget(self, user_id: str) -> None:
        """Close the channels of a user (signed out everywhere, disabled)."""
        for key in [k for k in self._clients if k[0] == user_id]:
            await self._clients.pop(key).close()

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()

    # -- Admin (operators) ------------------------------------------------------------------

    async def admin(self, user: User, method: str, request: Any) -> Any:
        """Call Admin/<method> for an operator user."""
        client = self.client(user)
        info = rpc("Admin", method)
        call = client._channel.unary_unary(info.path, raw, raw)
        with mapped(self._base.address):
            answer = await call(request.SerializeToString(), timeout=30.0)
        return info.response.FromString(answer)

    # -- Account (staff: their institution's own grant and usage) ---------------------------

    async def own_grant(self, user: User) -> apb.Grant | None:
        """The user's institution's grant (Account GetMyGrant, acting for the user); None
        for an operator, who has no grant."""
        if user.is_operator:
            return None
        return await self.client(user).my_grant()

    async def own_usage(self, user: User, days: int) -> account_pb2.GetMyUsageResponse | None:
        """NIKs per day for the last `days` days (WIB) with the quota left today and the
        grant's status (Account GetMyUsage); None for an operator."""
        if user.is_operator:
            return None
        return await self.client(user).my_usage(days=days)

    # -- data balikan (the blocking sender, in a thread) -----------------------------------

    async def send_return_data(self, user: User, records: list[ReturnRecord]) -> SendReport:
        conn = self.connection(user)
        sender = ReturnDataSender(conn, batch_size=1000, window=8, give_up_after=30.0)
        return await asyncio.to_thread(sender.send, records)

    async def obligations(self, user: User, max_items: int = 100
                          ) -> return_data_pb2.ObligationsResponse:
        return await asyncio.to_thread(obligations, self.connection(user), "", max_items)


def channel_ready(target: Target, timeout: float = 5.0) -> bool:
    """Whether nikgate answers at the address (TLS up); for the start-up log line."""
    conn = Connection(target.address, target.ca, target.cert, target.key,
                      server_name=target.server_name)
    channel = conn.channel()
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
        return True
    except grpc.FutureTimeoutError:
        return False
    finally:
        channel.close()
