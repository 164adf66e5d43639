"""Proto3 JSON <-> messages: strict parsing, and answers with proto field names.

Parsing is strict: a member the message does not have is refused, naming it (so a typo in
`claims` is not silently dropped), as is a value of the wrong JSON type. Column fields
(repeated strings and integers: a 10,000-item batch) are checked and copied in bulk; every
other field goes through google.protobuf.json_format, which defines the mapping. Both
names of a field are accepted (`request_id` and `requestId`); answers use the proto names.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

_INTS = frozenset((FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32,
                   FieldDescriptor.TYPE_SFIXED32, FieldDescriptor.TYPE_UINT32,
                   FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_INT64,
                   FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64,
                   FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64))


class BodyError(ValueError):
    """The body does not fit the message; `field` is the path of the offending member."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _names(descriptor: Any) -> dict[str, FieldDescriptor]:
    names = dict(descriptor.fields_by_name)
    names.update((f.json_name, f) for f in descriptor.fields)
    return names


_NAMES: dict[str, dict[str, FieldDescriptor]] = {}


def _field_names(descriptor: Any) -> dict[str, FieldDescriptor]:
    names = _NAMES.get(descriptor.full_name)
    if names is None:
        names = _NAMES[descriptor.full_name] = _names(descriptor)
    return names


def _is_map(field: Any) -> bool:
    return (field.type == FieldDescriptor.TYPE_MESSAGE
            and field.message_type.GetOptions().map_entry)


def _ints(values: list, where: str) -> list[int]:
    """A JSON integer column: numbers, or decimal strings (how 64-bit values are written)."""
    if all(type(v) is int for v in values):
        return values
    out = []
    for i, v in enumerate(values):
        if type(v) is int:
            out.append(v)
        elif isinstance(v, str) and v.lstrip("-").isdigit() and v.isascii():
            out.append(int(v))
        elif isinstance(v, float) and v.is_integer():
            out.append(int(v))
        else:
            raise BodyError(f"{where}[{i}] must be an integer, got {_kind(v)}", f"{where}[{i}]")
    return out


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def parse(data: Any, message: Message, where: str = "") -> Message:
    """Fill `message` from the decoded JSON `data`; BodyError naming the member at fault."""
    if not isinstance(data, dict):
        raise BodyError(f"{where or 'the body'} must be a JSON object, got {_kind(data)}",
                        where)
    names = _field_names(message.DESCRIPTOR)
    rest: dict[str, Any] = {}
    for key, value in data.items():
        field = names.get(key)
        path = f"{where}.{key}" if where else key
        if field is None:
            known = ", ".join(f.name for f in message.DESCRIPTOR.fields)
            raise BodyError(f"unknown field {path!r}: {message.DESCRIPTOR.name} has "
                            f"{known}", path)
        if value is None:
            continue   # proto3 JSON: null is the default value
        if not field.is_repeated or _is_map(field):
            rest[key] = value
            continue
        if not isinstance(value, list):
            raise BodyError(f"{path} must be an array, got {_kind(value)}", path)
        container = getattr(message, field.name)
        try:
            if field.type == FieldDescriptor.TYPE_STRING:
                if not all(type(v) is str for v in value):
                    bad = next(i for i, v in enumerate(value) if type(v) is not str)
                    raise BodyError(f"{path}[{bad}] must be a string, got "
                                    f"{_kind(value[bad])}", f"{path}[{bad}]")
                container.extend(value)
            elif field.type in _INTS:
                container.extend(_ints(value, path))
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                for i, item in enumerate(value):
                    parse(item, container.add(), f"{path}[{i}]")
            else:
                rest[key] = value
        except (ValueError, TypeError) as e:
            if isinstance(e, BodyError):
                raise
            raise BodyError(f"{path}: {e}", path) from None
    if rest:
        try:
            json_format.ParseDict(rest, message)
        except json_format.ParseError as e:
            raise BodyError(_parse_error(str(e), where), where or _first(rest)) from None
    return message


def _first(rest: dict[str, Any]) -> str:
    return next(iter(rest))


def _parse_error(text: str, where: str) -> str:
    # json_format says 'Failed to parse claims field: ... at VerifyRequest.claims'; keep
    # its words, prefixed with where the message sits in the body.
    return f"{where}: {text}" if where else text


def parse_query(params: list[tuple[str, str]], message: Message) -> Message:
    """Fill `message` from a query string: scalar fields only, each at most once."""
    names = _field_names(message.DESCRIPTOR)
    data: dict[str, Any] = {}
    for key, value in params:
        field = names.get(key)
        if field is None or field.is_repeated or \
                field.type == FieldDescriptor.TYPE_MESSAGE:
            known = ", ".join(f.name for f in message.DESCRIPTOR.fields
                              if not f.is_repeated and f.type != FieldDescriptor.TYPE_MESSAGE)
            raise BodyError(f"unknown query parameter {key!r}: use {known}", key)
        if key in data:
            raise BodyError(f"query parameter {key!r} given twice", key)
        data[key] = value
        if field.type == FieldDescriptor.TYPE_BOOL:
            data[key] = value.lower() in ("1", "true")
        elif field.type in _INTS and field.cpp_type in (FieldDescriptor.CPPTYPE_INT32,
                                                        FieldDescriptor.CPPTYPE_UINT32):
            if not value.lstrip("-").isdigit():
                raise BodyError(f"query parameter {key!r} must be an integer", key)
            data[key] = int(value)
    return parse(data, message)


def to_json(message: Message) -> dict[str, Any]:
    """The proto3 JSON form of `message`: proto field names, every field present (zeros,
    empty lists and maps included, so clients need no defaults), enums by name, bytes and
    64-bit integers as strings."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)
