"""Engine values <-> nikgate.v1 enum numbers, derived from the generated descriptors.

The engine numbers its item statuses and outcomes (engine/constants.py) and codes the life
and card status (engine/schema.py tables); the protos number their enums for the wire
(proto/nikgate/v1/common.proto). Nothing here is written by hand: item statuses and outcomes
pair by name (ItemStatus.FOUND <-> ITEM_STATUS_FOUND), life and card statuses by the
`(Dukcapil.value)` option common.proto gives each value ("HIDUP" <-> LIFE_STATUS_ALIVE).

Import fails when an engine value has no proto counterpart, or when a number that batch
answers carry as it is (item status, life and card codes) differs between the two: adding
a value on one side only is caught at start-up, not by a client.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Final

from nikgate.engine.constants import ItemStatus, Outcome
from nikgate.engine.schema import CARD_STATUS, LIFE_STATUS
from nikgate.v1 import common_pb2


def _by_name(engine: type[enum.IntEnum], proto: Any, prefix: str) -> dict[int, Any]:
    """Engine number -> proto number for every engine member, paired by name."""
    names = set(proto.keys())
    out = {}
    for member in engine:
        name = prefix + member.name
        if name not in names:
            raise ImportError(f"engine {engine.__name__}.{member.name} has no {name} in "
                              f"nikgate.v1.{proto.DESCRIPTOR.name}: add it to the proto")
        out[int(member)] = proto.Value(name)
    return out


def _by_dukcapil_value(table: tuple[str, ...], proto: Any) -> dict[str, Any]:
    """Dukcapil value ("HIDUP") -> proto number, from the enum values' (Dukcapil.value) option;
    every value of the engine's code table must have one, at the number of its code."""
    out = {}
    for value in proto.DESCRIPTOR.values:
        options = value.GetOptions()
        if options.HasExtension(common_pb2.Dukcapil.value):
            out[options.Extensions[common_pb2.Dukcapil.value]] = value.number
    for code, name in enumerate(table, 1):
        if out.get(name) != code:
            raise ImportError(f"{name} is code {code} in the engine but "
                              f"{out.get(name, 'missing')} in nikgate.v1."
                              f"{proto.DESCRIPTOR.name}: batch answers send the code as it is")
    return out


def _identity(pairs: Mapping[int, int], what: str) -> None:
    wrong = {k: v for k, v in pairs.items() if k != v}
    if wrong:
        raise ImportError(f"{what}: engine and proto numbers differ ({wrong}); batch answers "
                          "send the engine's numbers as they are")


ITEM_STATUS: Final[dict[int, common_pb2.ItemStatus]] = _by_name(
    ItemStatus, common_pb2.ItemStatus, "ITEM_STATUS_")
_identity(ITEM_STATUS, "ItemStatus")
OUTCOME: Final[dict[int, common_pb2.Outcome]] = _by_name(
    Outcome, common_pb2.Outcome, "OUTCOME_")
LIFE_STATUS_NUMBER: Final[dict[str, common_pb2.LifeStatus]] = _by_dukcapil_value(
    LIFE_STATUS, common_pb2.LifeStatus)
CARD_STATUS_NUMBER: Final[dict[str, common_pb2.CardStatus]] = _by_dukcapil_value(
    CARD_STATUS, common_pb2.CardStatus)

# bytes.translate table: a batch's engine outcome bytes -> proto Outcome bytes (others -> 0)
OUTCOME_BYTES: Final = bytes(OUTCOME.get(i, 0) for i in range(256))
# proto Outcome number -> engine Outcome, for reading answers back
ENGINE_OUTCOME: Final = {proto: Outcome(engine) for engine, proto in OUTCOME.items()}


def life_status_number(name: str | None) -> common_pb2.LifeStatus:
    """The proto LifeStatus of a stored life status name (UNSPECIFIED when none)."""
    return LIFE_STATUS_NUMBER.get(name or "", common_pb2.LIFE_STATUS_UNSPECIFIED)


def card_status_number(name: str | None) -> common_pb2.CardStatus:
    """The proto CardStatus of a stored card status name (UNSPECIFIED when none)."""
    return CARD_STATUS_NUMBER.get(name or "", common_pb2.CARD_STATUS_UNSPECIFIED)


def life_status_name(number: int) -> str | None:
    """The Dukcapil life status a proto LifeStatus stands for (None when unspecified)."""
    return _LIFE_STATUS_NAME.get(number)


def card_status_name(number: int) -> str | None:
    """The Dukcapil card status a proto CardStatus stands for (None when unspecified)."""
    return _CARD_STATUS_NAME.get(number)


_LIFE_STATUS_NAME: Final = {int(n): name for name, n in LIFE_STATUS_NUMBER.items()}
_CARD_STATUS_NAME: Final = {int(n): name for name, n in CARD_STATUS_NUMBER.items()}
