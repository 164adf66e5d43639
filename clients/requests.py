"""Building request messages, shared by the sync and async clients."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Generic, TypeVar

from nikgate.methods import rpc
from nikgate.v1 import lookup_pb2, verification_pb2

M = TypeVar("M")

# The unary methods both clients call with raw bytes, and the stream.
UNARY_METHODS = tuple((name, rpc(service, name).path) for service, name in (
    ("Verification", "Verify"), ("Verification", "VerifyBatch"),
    ("Lookup", "Lookup"), ("Lookup", "LookupBatch")))
STREAM_METHOD = rpc("Verification", "VerifyStream").path


def raw(b: bytes) -> bytes:
    """Identity (de)serializer: the clients keep the exact bytes for receipts."""
    return b


@dataclass(frozen=True)
class Reply(Generic[M]):
    """A parsed response with the exact bytes sent and received (for receipts)."""

    message: M
    response_bytes: bytes
    request_bytes: bytes


@dataclass(frozen=True)
class VerifyItem:
    """One person to verify in a stream: the caller's id, the NIK, the claimed values."""

    item_id: int
    nik: str
    claims: Mapping[str, str]


def verify_request(nik: str, claims: Mapping[str, str], thresholds=None, purpose: str = "",
                   request_id: str = "") -> verification_pb2.VerifyRequest:
    """The VerifyRequest for one NIK and its claims."""
    return verification_pb2.VerifyRequest(nik=nik, claims=dict(claims),
                                          thresholds=dict(thresholds or {}), purpose=purpose,
                                          request_id=request_id)


def verify_batch_request(niks: Sequence[str], claims: Mapping[str, Sequence[str | None]],
                         thresholds=None, item_ids: Sequence[int] = (), purpose: str = "",
                         request_id: str = "") -> verification_pb2.VerifyBatchRequest:
    """A VerifyBatchRequest from per-field columns (None: not claimed for that NIK)."""
    fields = list(claims)
    columns = [verification_pb2.ClaimColumn(values=[v or "" for v in claims[f]])
               for f in fields]
    return verification_pb2.VerifyBatchRequest(
        niks=list(niks), fields=fields, columns=columns, thresholds=dict(thresholds or {}),
        item_ids=list(item_ids), purpose=purpose, request_id=request_id)


def batches_of(items: Iterable[VerifyItem], fields: Sequence[str], size: int,
               thresholds=None, purpose: str = "") -> Iterator[verification_pb2.VerifyBatchRequest]:
    """Turn any iterable of items into batch messages of at most `size`, lazily."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield verify_batch_request(
            [i.nik for i in chunk], {f: [i.claims.get(f) for i in chunk] for f in fields},
            thresholds, [i.item_id for i in chunk], purpose)


def lookup_request(nik: str, fields: Sequence[str], purpose: str = "",
                   request_id: str = "") -> lookup_pb2.LookupRequest:
    """The LookupRequest for one NIK."""
    return lookup_pb2.LookupRequest(nik=nik, fields=list(fields), purpose=purpose,
                                    request_id=request_id)


def lookup_batch_request(niks: Sequence[str], fields: Sequence[str],
                         item_ids: Sequence[int] = (), purpose: str = "",
                         request_id: str = "") -> lookup_pb2.LookupBatchRequest:
    """The LookupBatchRequest for many NIKs."""
    return lookup_pb2.LookupBatchRequest(niks=list(niks), fields=list(fields),
                                         item_ids=list(item_ids), purpose=purpose,
                                         request_id=request_id)
