"""The OpenAPI document: valid (openapi-spec-validator), what the gateway serves and ships,
current with the protos, and in agreement with them: every annotated method, every
message field with its JSON type."""

from __future__ import annotations

import json

from google.api import annotations_pb2
from google.protobuf.descriptor import FieldDescriptor
from openapi_spec_validator import validate

from nikgate.gateway import openapi
from nikgate.gateway.routes import http_routes
from nikgate.methods import RPCS


def _shipped() -> dict:
    return json.loads(openapi.SHIPPED.read_text())


def test_the_document_is_valid_openapi():
    validate(_shipped())


def test_the_shipped_document_is_current_with_the_protos():
    assert openapi.SHIPPED.read_text() == openapi.render(openapi.document()), (
        "nikgate/gateway/openapi.json is stale: run python -m nikgate.gateway.openapi --write")


def test_the_gateway_serves_the_shipped_document(gateway):
    with gateway.client() as c:
        r = c.get("/v1/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == _shipped()


def test_every_annotated_method_is_an_operation():
    doc = _shipped()
    annotated = set()
    for rpc in RPCS.values():
        method = rpc.request.DESCRIPTOR.file.pool.FindMethodByName(
            rpc.path[1:].replace("/", "."))
        if method.GetOptions().HasExtension(annotations_pb2.http):
            annotated.add(rpc.path)
    assert annotated == {r.rpc.path for r in http_routes()}
    assert len(annotated) >= 6
    for route in http_routes():
        op = doc["paths"][route.path][route.verb.lower()]
        assert f"`{route.rpc.path}`" in op["description"]
        assert op["operationId"] == route.operation_id
        for code in ("200", "400", "401", "403", "413", "415", "429", "503"):
            assert code in op["responses"], (route.path, code)
        response_ref = op["responses"]["200"]["content"]["application/json"]["schema"]
        assert {"$ref": f"#/components/schemas/{route.rpc.response.DESCRIPTOR.full_name}"} \
            in response_ref["allOf"]
        if route.body == "*":
            assert op["requestBody"]["content"]["application/json"]["schema"] == {
                "$ref": f"#/components/schemas/{route.rpc.request.DESCRIPTOR.full_name}"}
        else:
            names = {p["name"] for p in op["parameters"] if p["in"] == "query"}
            assert names == {f.name for f in route.rpc.request.DESCRIPTOR.fields}


_JSON_TYPE = {
    FieldDescriptor.TYPE_STRING: "string", FieldDescriptor.TYPE_BYTES: "string",
    FieldDescriptor.TYPE_BOOL: "boolean", FieldDescriptor.TYPE_DOUBLE: "number",
    FieldDescriptor.TYPE_FLOAT: "number", FieldDescriptor.TYPE_INT32: "integer",
    FieldDescriptor.TYPE_UINT32: "integer", FieldDescriptor.TYPE_INT64: ["string", "integer"],
    FieldDescriptor.TYPE_UINT64: ["string", "integer"],
    FieldDescriptor.TYPE_FIXED64: ["string", "integer"],
}


def _check_value(schema: dict, field, where: str) -> None:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        assert schema == {"$ref": f"#/components/schemas/{field.message_type.full_name}"}, where
    elif field.type == FieldDescriptor.TYPE_ENUM:
        assert schema == {"$ref": f"#/components/schemas/{field.enum_type.full_name}"}, where
    else:
        assert schema["type"] == _JSON_TYPE[field.type], where


def test_schemas_match_the_message_fields():
    schemas = _shipped()["components"]["schemas"]
    checked = 0
    for name, schema in schemas.items():
        if not name.startswith("nikgate.v1."):
            continue
        rpc_messages = {m.DESCRIPTOR.full_name: m.DESCRIPTOR for r in RPCS.values()
                        for m in (r.request, r.response)}
        descriptor = rpc_messages.get(name)
        if descriptor is None:
            from google.protobuf import descriptor_pool
            pool = descriptor_pool.Default()
            try:
                enum = pool.FindEnumTypeByName(name)
            except KeyError:
                descriptor = pool.FindMessageTypeByName(name)
            else:
                assert schema["enum"] == [v.name for v in enum.values], name
                continue
        assert set(schema["properties"]) == {f.name for f in descriptor.fields}, name
        for f in descriptor.fields:
            prop = schema["properties"][f.name]
            where = f"{name}.{f.name}"
            if f.type == FieldDescriptor.TYPE_MESSAGE and \
                    f.message_type.GetOptions().map_entry:
                assert prop["type"] == "object", where
                _check_value(prop["additionalProperties"],
                             f.message_type.fields_by_name["value"], where)
            elif f.is_repeated:
                assert prop["type"] == "array", where
                _check_value(prop["items"], f, where)
            else:
                _check_value({k: v for k, v in prop.items() if k != "description"}, f, where)
            checked += 1
    assert checked > 60
