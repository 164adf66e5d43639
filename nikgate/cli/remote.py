"""Calling the server from the command line: a failed call is a nikgate error.

The clients already raise nikgate errors; `call` also covers a raw grpc channel, through
the clients' one mapping (clients/errors.py), so every command reports a status the same
way (nikgate/cli/__init__.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import grpc

T = TypeVar("T")


def call(fn: Callable[[], T], address: str = "") -> T:
    """fn(), with a grpc.RpcError raised as the nikgate error it stands for."""
    from nikgate.clients.errors import from_rpc_error

    try:
        return fn()
    except grpc.RpcError as e:
        raise from_rpc_error(e, address) from None
