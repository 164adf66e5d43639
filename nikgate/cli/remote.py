"""Calling the server from the command line: gRPC errors become nikgate errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import grpc

from nikgate.errors import InvalidInputError, NikgateError

T = TypeVar("T")


def call(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except grpc.RpcError as e:
        code = e.code()
        if code is grpc.StatusCode.INVALID_ARGUMENT:
            raise InvalidInputError(e.details()) from None
        raise NikgateError(f"server said {code.name}: {e.details()}") from None
