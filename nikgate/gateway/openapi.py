"""The OpenAPI 3.1 document of the JSON API, generated from the proto descriptors.

Paths come from the `google.api.http` annotations (routes.py), schemas from the message
descriptors in the proto3 JSON mapping (proto field names; 64-bit integers as decimal
strings; enums by name; bytes as base64), descriptions from the comments in the .proto
files. The result is committed as nikgate/gateway/openapi.json (shipped in the package and
served at /v1/openapi.json); regenerate it after changing a .proto file:

    python -m nikgate.gateway.openapi --write

tests/integration/gateway/test_openapi.py fails while the committed file is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FieldDescriptor

from nikgate import __version__

from .routes import HttpRoute, http_routes

HERE = Path(__file__).resolve().parent
SHIPPED = HERE / "openapi.json"
STATUS = "google.rpc.Status"
SIGNED = "nikgate.gateway.SignedBytes"
_INT32 = (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32)
_UINT32 = (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32)
_INT64 = (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64)
_UINT64 = (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64)
ERRORS = {
    "400": "malformed JSON, an unknown field, a value of the wrong type, or a request the "
           "service refused as invalid (BadRequest names the field)",
    "401": "the certificate is revoked or names no institution nikgate knows",
    "403": "the grant does not allow it (BadRequest names refused fields)",
    "413": "the body is larger than the gateway's limit",
    "415": "the body is not application/json (UTF-8, uncompressed)",
    "429": "quota or rate exceeded, or the service is full: retry after Retry-After seconds",
    "503": "the service cannot answer now (e.g. the audit log cannot record the call)",
    "504": "the call ran out of time",
}


def scalar_schema(field: Any) -> dict[str, Any]:
    """The JSON schema of one value of `field` (not its repetition)."""
    t = field.type
    if t == FieldDescriptor.TYPE_STRING:
        return {"type": "string"}
    if t == FieldDescriptor.TYPE_BYTES:
        return {"type": "string", "contentEncoding": "base64"}
    if t == FieldDescriptor.TYPE_BOOL:
        return {"type": "boolean"}
    if t in _INT32:
        return {"type": "integer", "format": "int32"}
    if t in _UINT32:
        return {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1}
    if t in _INT64:
        return {"type": ["string", "integer"], "format": "int64", "pattern": "^-?[0-9]+$"}
    if t in _UINT64:
        return {"type": ["string", "integer"], "format": "uint64", "pattern": "^[0-9]+$"}
    if t == FieldDescriptor.TYPE_DOUBLE:
        return {"type": "number", "format": "double"}
    if t == FieldDescriptor.TYPE_FLOAT:
        return {"type": "number", "format": "float"}
    if t == FieldDescriptor.TYPE_ENUM:
        return {"$ref": f"#/components/schemas/{field.enum_type.full_name}"}
    if t == FieldDescriptor.TYPE_MESSAGE:
        return {"$ref": f"#/components/schemas/{field.message_type.full_name}"}
    raise ValueError(f"no JSON schema for {field.full_name} (type {t})")


def field_schema(field: Any) -> dict[str, Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
        value = field.message_type.fields_by_name["value"]
        return {"type": "object", "additionalProperties": scalar_schema(value)}
    if field.is_repeated:
        return {"type": "array", "items": scalar_schema(field)}
    return scalar_schema(field)


class _Builder:
    def __init__(self, comments: dict[str, str]) -> None:
        self.comments = comments
        self.schemas: dict[str, Any] = {}

    def _describe(self, schema: dict[str, Any], full_name: str) -> dict[str, Any]:
        text = self.comments.get(full_name)
        if text:
            schema = {**schema, "description": text}
        return schema

    def enum(self, enum: Any) -> None:
        if enum.full_name in self.schemas:
            return
        self.schemas[enum.full_name] = self._describe(
            {"type": "string", "enum": [v.name for v in enum.values]}, enum.full_name)

    def message(self, message: Any) -> None:
        if message.full_name in self.schemas:
            return
        properties: dict[str, Any] = {}
        self.schemas[message.full_name] = self._describe(
            {"type": "object", "properties": properties},
            message.full_name)
        for f in message.fields:
            schema = field_schema(f)
            properties[f.name] = self._describe(schema, f.full_name) \
                if "$ref" not in schema else schema
            if f.type == FieldDescriptor.TYPE_ENUM:
                self.enum(f.enum_type)
            elif f.type == FieldDescriptor.TYPE_MESSAGE:
                if f.message_type.GetOptions().map_entry:
                    value = f.message_type.fields_by_name["value"]
                    if value.type == FieldDescriptor.TYPE_MESSAGE:
                        self.message(value.message_type)
                    elif value.type == FieldDescriptor.TYPE_ENUM:
                        self.enum(value.enum_type)
                else:
                    self.message(f.message_type)


def _operation(route: HttpRoute, builder: _Builder) -> dict[str, Any]:
    rpc = route.rpc
    builder.message(rpc.request.DESCRIPTOR)
    builder.message(rpc.response.DESCRIPTOR)
    method_name = f"{rpc.service}.{rpc.name}"
    summary = builder.comments.get(method_name, "")
    op: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": f"{rpc.service.rsplit('.', 1)[-1]}/{rpc.name}",
        "description": (f"{summary}\n\n" if summary else "")
        + f"Transcoded to gRPC `{rpc.path}`.",
        "tags": [rpc.service.rsplit(".", 1)[-1]],
        "parameters": [{"name": "X-Request-Id", "in": "header", "required": False,
                        "description": "your id of this request: fills an empty "
                                       "`request_id` and is echoed",
                        "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": "the answer, with the exact bytes its receipt signs",
                    "headers": {"Nikgate-Transaction-Id": {"schema": {"type": "string"}}},
                    "content": {"application/json": {"schema": {"allOf": [
                        {"$ref": f"#/components/schemas/{rpc.response.DESCRIPTOR.full_name}"},
                        {"$ref": f"#/components/schemas/{SIGNED}"}]}}}},
            **{code: _error(text) for code, text in ERRORS.items()},
        },
    }
    if rpc.client_streaming:
        op["description"] += (" The gRPC method is a stream; here one request carries one "
                              "message and is answered with its one answer.")
        op["parameters"].append({
            "name": "Idempotency-Key", "in": "header", "required": False,
            "description": "with no `record_ids` in the batch, record i gets the id "
                           "\"<key>:<i>\" (so a resent request stores nothing twice); with "
                           "record ids, only echoed. 1-59 printable ASCII, no spaces.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 59}})
    if route.body == "*":
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
            "$ref": f"#/components/schemas/{rpc.request.DESCRIPTOR.full_name}"}}}}
    else:
        for f in rpc.request.DESCRIPTOR.fields:
            if not f.is_repeated and f.type != FieldDescriptor.TYPE_MESSAGE:
                op["parameters"].append({
                    "name": f.name, "in": "query", "required": False,
                    "description": builder.comments.get(f.full_name, ""),
                    "schema": scalar_schema(f)})
    return op


def _error(text: str) -> dict[str, Any]:
    return {"description": text,
            "content": {"application/json": {"schema": {
                "$ref": f"#/components/schemas/{STATUS}"}}}}


def _fixed_schemas() -> dict[str, Any]:
    return {
        STATUS: {
            "type": "object",
            "description": "google.rpc.Status in the proto3 JSON mapping: the gRPC status "
                           "code (3 INVALID_ARGUMENT, 7 PERMISSION_DENIED, 8 "
                           "RESOURCE_EXHAUSTED, ...), a message a person can act on, and "
                           "details (ErrorInfo, BadRequest, QuotaFailure, RetryInfo, "
                           "RequestInfo), each with its \"@type\".",
            "properties": {
                "code": {"type": "integer", "format": "int32"},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {
                    "type": "object", "required": ["@type"],
                    "properties": {"@type": {"type": "string"}},
                    "additionalProperties": True}},
            },
            "required": ["code", "message"],
        },
        SIGNED: {
            "type": "object",
            "description": "Added by the gateway to every answer: the exact protobuf bytes "
                           "the receipt covers, base64. The whole answer can be saved and "
                           "checked with `nikgate receipt verify FILE --public-key KEY`.",
            "properties": {
                "response_b64": {"type": "string", "contentEncoding": "base64",
                                 "description": "the response message as the service "
                                                "sent it, its receipt (field 15) last"},
                "request_b64": {"type": "string", "contentEncoding": "base64",
                                "description": "the request message the gateway sent on "
                                               "your behalf (its SHA-256 is in the receipt)"},
            },
            "required": ["response_b64", "request_b64"],
        },
    }


def document(comments: dict[str, str] | None = None) -> dict[str, Any]:
    """The OpenAPI document (comments: full proto name -> its comment, or none)."""
    builder = _Builder(comments if comments is not None else proto_comments())
    paths: dict[str, Any] = {}
    for route in http_routes():
        paths.setdefault(route.path, {})[route.verb.lower()] = _operation(route, builder)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "nikgate JSON API",
            "version": __version__,
            "description": "The nikgate v1 API over HTTPS and JSON, generated from "
                           "proto/nikgate/v1 (google.api.http annotations). Mutual TLS with "
                           "a nikgate certificate is required. Bodies and answers follow "
                           "the proto3 JSON mapping; field names as in the protos "
                           "(lowerCamelCase is accepted too). See docs/json-api.md.",
        },
        "servers": [{"url": "https://localhost:8443"}],
        "security": [{"nikgateMutualTLS": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"nikgateMutualTLS": {
                "type": "mutualTLS",
                "description": "a client certificate issued by the nikgate CA"}},
            "schemas": {**dict(sorted(builder.schemas.items())), **_fixed_schemas()},
        },
    }


def proto_comments() -> dict[str, str]:
    """Leading and trailing comments of the v1 .proto files, by full name (needs
    grpcio-tools and googleapis-common-protos, as the build does)."""
    import google.api.annotations_pb2 as annotations
    import grpc_tools
    from grpc_tools import protoc

    import nikgate.v1

    proto_dir = Path(nikgate.v1.__file__).resolve().parent
    root = proto_dir.parents[1] if proto_dir.name == "v1" and proto_dir.parent.name == \
        "nikgate" else proto_dir
    files = sorted(str(p.relative_to(root)) for p in proto_dir.glob("*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        args = ["protoc", f"--proto_path={root}",
                f"--proto_path={Path(grpc_tools.__file__).parent / '_proto'}",
                f"--proto_path={Path(annotations.__file__).resolve().parents[2]}",
                "--include_source_info", f"--descriptor_set_out={out}", *files]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed reading " + " ".join(files))
        fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    comments: dict[str, str] = {}
    for f in fds.file:
        names = _paths(f)
        for loc in f.source_code_info.location:
            name = names.get(tuple(loc.path))
            text = (loc.leading_comments or loc.trailing_comments).strip()
            if name and text:
                comments[name] = " ".join(line.strip() for line in text.splitlines())
    return comments


def _paths(f: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    """Source-info paths of messages, fields, enums and methods -> full names."""
    names: dict[tuple[int, ...], str] = {}
    pkg = f.package

    def message(m, path: tuple[int, ...], prefix: str) -> None:
        full = f"{prefix}.{m.name}"
        names[path] = full
        for i, fd in enumerate(m.field):
            names[(*path, 2, i)] = f"{full}.{fd.name}"
        for i, nested in enumerate(m.nested_type):
            message(nested, (*path, 3, i), full)
        for i, e in enumerate(m.enum_type):
            names[(*path, 4, i)] = f"{full}.{e.name}"

    for i, m in enumerate(f.message_type):
        message(m, (4, i), pkg)
    for i, e in enumerate(f.enum_type):
        names[(5, i)] = f"{pkg}.{e.name}"
    for i, s in enumerate(f.service):
        for j, meth in enumerate(s.method):
            names[(6, i, 2, j)] = f"{pkg}.{s.name}.{meth.name}"
    return names


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--write", action="store_true", help=f"write {SHIPPED}")
    args = p.parse_args(argv)
    text = render(document())
    if args.write:
        SHIPPED.write_text(text)
        print(f"wrote {SHIPPED}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
