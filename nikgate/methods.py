"""The RPC table: every method of the v1 API, read once from the generated descriptors.

Server registration, health, reflection, the clients and the tests take method paths,
request and response classes from here, so a method added to a .proto file reaches all of
them and none of them carries a path as a string literal.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from google.protobuf.message import Message

from nikgate.v1 import (
    account_pb2,
    admin_pb2,
    card_reader_pb2,
    lookup_pb2,
    return_data_pb2,
    verification_pb2,
)

_MODULES: tuple[ModuleType, ...] = (verification_pb2, lookup_pb2, return_data_pb2,
                                    card_reader_pb2, admin_pb2, account_pb2)


@dataclass(frozen=True)
class Rpc:
    """One method: /<service>/<name>, its message classes and streaming shape."""

    service: str                 # full service name, e.g. "nikgate.v1.Verification"
    name: str                    # e.g. "VerifyBatch"
    request: type[Message]
    response: type[Message]
    client_streaming: bool
    server_streaming: bool

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.name}"

    @property
    def streaming(self) -> bool:
        return self.client_streaming or self.server_streaming


def _build() -> dict[str, Rpc]:
    table: dict[str, Rpc] = {}
    for module in _MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for m in service.methods:
                rpc = Rpc(service.full_name, m.name,
                          getattr(module, m.input_type.name) if m.input_type.file is
                          module.DESCRIPTOR else _message_class(m.input_type),
                          getattr(module, m.output_type.name) if m.output_type.file is
                          module.DESCRIPTOR else _message_class(m.output_type),
                          m.client_streaming, m.server_streaming)
                table[rpc.path] = rpc
    return table


def _message_class(descriptor) -> type[Message]:
    from google.protobuf import message_factory
    return message_factory.GetMessageClass(descriptor)


RPCS: dict[str, Rpc] = _build()
SERVICES: tuple[str, ...] = tuple(dict.fromkeys(r.service for r in RPCS.values()))


def rpc(service_short: str, name: str) -> Rpc:
    """The method `name` of service nikgate.v1.<service_short>, e.g. rpc("Lookup", "Lookup")."""
    return RPCS[f"/nikgate.v1.{service_short}/{name}"]


def of_service(service: str) -> tuple[Rpc, ...]:
    return tuple(r for r in RPCS.values() if r.service == service)
