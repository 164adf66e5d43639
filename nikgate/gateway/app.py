"""The gateway's ASGI application: one endpoint per annotated method, in this order:

1. the client certificate of the connection (else 401; TLS has verified its chain);
2. the content type, `application/json` (else 415), and no content encoding;
3. the body size, from Content-Length and while reading (else 413, before any parsing);
4. JSON decoding (400 naming the position) and strict proto3 JSON parsing (400 naming the
   member: an unknown field, a value of the wrong type);
5. `X-Request-Id` into an empty `request_id`; for return data, `Idempotency-Key`;
6. the gRPC call on behalf of the certificate's holder (upstream.py);
7. the answer: the response message in proto3 JSON, plus `response_b64` and `request_b64`,
   the exact bytes the receipt signs, so the JSON answer stays verifiable (it can be saved
   and checked as is with `nikgate receipt verify`). Errors: google.rpc.Status JSON.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import grpc
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import errors
from .errors import GatewayError
from .routes import HttpRoute, http_routes
from .tls import PEER_CERT
from .transcode import BodyError, parse, parse_query, to_json
from .upstream import Upstream, UpstreamSettings

log = logging.getLogger(__name__)

JSON = "application/json"
SUBMIT = "/nikgate.v1.ReturnData/Submit"
IDEMPOTENCY_KEY_MAX = 59   # "<key>:<index>" stays within a record id's 64 characters


@dataclass(frozen=True)
class GatewaySettings:
    upstream: UpstreamSettings
    max_body_bytes: int = 16 << 20
    deadline_seconds: float = 30.0


def _json_response(data: Any, status: int = 200,
                   headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(),
                    status, headers, media_type=JSON)


def _error_response(status, headers: dict[str, str] | None = None,
                    http: int | None = None) -> Response:
    headers = dict(headers or {})
    retry = errors.retry_after(status)
    if retry is not None:
        headers["Retry-After"] = retry
    return _json_response(errors.status_json(status), http or errors.http_status(status),
                          headers)


def _refuse(error: GatewayError, headers: dict[str, str] | None = None) -> Response:
    return _error_response(error.status(), {**(headers or {}), **error.headers},
                           error.http_status)


def _check_content_type(request: Request) -> None:
    value = request.headers.get("content-type", "")
    media, _, params = value.partition(";")
    if media.strip().lower() != JSON:
        raise GatewayError(415, grpc.StatusCode.INVALID_ARGUMENT,
                           f"Content-Type must be {JSON}, got {value.strip() or 'none'}",
                           field="Content-Type")
    charset = next((p.split("=", 1)[1].strip().strip('"').lower() for p in params.split(";")
                    if p.strip().lower().startswith("charset=")), "utf-8")
    if charset not in ("utf-8", "utf8"):
        raise GatewayError(415, grpc.StatusCode.INVALID_ARGUMENT,
                           f"the body must be UTF-8 JSON, got charset {charset}",
                           field="Content-Type")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        raise GatewayError(415, grpc.StatusCode.INVALID_ARGUMENT,
                           f"Content-Encoding {encoding} is not accepted: send the body "
                           "uncompressed", field="Content-Encoding")


def _too_large(limit: int) -> GatewayError:
    return GatewayError(413, grpc.StatusCode.RESOURCE_EXHAUSTED,
                        f"the body is larger than {limit:,} bytes, the gateway's limit; "
                        "send smaller batches", field="body")


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it is known to exceed `limit` (never read past it)."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise GatewayError(400, grpc.StatusCode.INVALID_ARGUMENT,
                               "Content-Length is not a number", field="Content-Length")
        if int(length) > limit:
            raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode(raw: bytes) -> Any:
    if not raw.strip():
        raise GatewayError(400, grpc.StatusCode.INVALID_ARGUMENT,
                           "the body is empty: send a JSON object", field="body")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise GatewayError(400, grpc.StatusCode.INVALID_ARGUMENT,
                           f"the body is not UTF-8 (byte {e.start})", field="body") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise GatewayError(400, grpc.StatusCode.INVALID_ARGUMENT,
                           f"the body is not valid JSON: {e.msg} at line {e.lineno} column "
                           f"{e.colno} (character {e.pos})", field="body") from None
    except (ValueError, RecursionError) as e:
        raise GatewayError(400, grpc.StatusCode.INVALID_ARGUMENT,
                           f"the body is not valid JSON: {e}", field="body") from None


def _apply_idempotency_key(message: Any, key: str) -> None:
    """Return data: the record ids are the idempotency keys. A batch without record ids
    takes them from the key, "<key>:<index>", so resending the same request with the same
    key stores nothing twice; a batch with record ids only echoes the key."""
    if not key.isascii() or not key.isprintable() or " " in key or \
            not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX:
        raise GatewayError(400, grpc.StatusCode.INVALID_ARGUMENT,
                           f"Idempotency-Key must be 1-{IDEMPOTENCY_KEY_MAX} printable ASCII "
                           "characters without spaces", field="Idempotency-Key")
    if not message.record_ids:
        message.record_ids.extend(f"{key}:{i}" for i in range(len(message.niks)))


def endpoint(route: HttpRoute, settings: GatewaySettings
             ) -> Callable[[Request], Awaitable[Response]]:
    rpc = route.rpc
    fields = rpc.request.DESCRIPTOR.fields_by_name
    takes_request_id = "request_id" in fields
    submit = rpc.path == SUBMIT

    async def handle(request: Request) -> Response:
        echo: dict[str, str] = {}
        request_id = request.headers.get("x-request-id")
        key = request.headers.get("idempotency-key") if submit else None
        if key is not None:
            echo["Idempotency-Key"] = key
        try:
            der = request.scope.get("state", {}).get(PEER_CERT)
            if not der:
                raise GatewayError(401, grpc.StatusCode.UNAUTHENTICATED,
                                   "no client certificate: present your nikgate "
                                   "certificate (mutual TLS)")
            if route.body:
                _check_content_type(request)
                data = _decode(await _read_body(request, settings.max_body_bytes))
                message = parse(data, rpc.request())
            else:
                if request.headers.get("content-length", "0") != "0" or \
                        "transfer-encoding" in request.headers:
                    raise GatewayError(400, grpc.StatusCode.INVALID_ARGUMENT,
                                       f"{route.verb} {route.path} takes no body",
                                       field="body")
                message = parse_query(request.query_params.multi_items(), rpc.request())
            if takes_request_id:
                if request_id and not message.request_id:  # type: ignore[attr-defined]
                    message.request_id = request_id  # type: ignore[attr-defined]
                request_id = message.request_id or request_id  # type: ignore[attr-defined]
            if request_id:
                echo["X-Request-Id"] = request_id
            if key is not None:
                _apply_idempotency_key(message, key)
        except BodyError as e:
            return _refuse(GatewayError(400, grpc.StatusCode.INVALID_ARGUMENT, str(e),
                                        field=e.field), echo)
        except GatewayError as e:
            return _refuse(e, echo)
        request_bytes = message.SerializeToString()
        upstream: Upstream = request.app.state.upstream
        try:
            answer = await upstream.call(rpc, request_bytes, der, settings.deadline_seconds)
        except grpc.aio.AioRpcError as e:
            status, tx = errors.status_of_rpc_error(e)
            if tx:
                echo["Nikgate-Transaction-Id"] = tx
            return _error_response(status, echo)
        response = rpc.response.FromString(answer)
        out = to_json(response)
        out["response_b64"] = base64.b64encode(answer).decode("ascii")
        out["request_b64"] = base64.b64encode(request_bytes).decode("ascii")
        tx = getattr(response, "transaction_id", "")
        if tx:
            echo["Nikgate-Transaction-Id"] = tx
        return _json_response(out, 200, echo)

    return handle


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: grpc.StatusCode.NOT_FOUND, 405: grpc.StatusCode.UNIMPLEMENTED}.get(
        exc.status_code, grpc.StatusCode.INVALID_ARGUMENT)
    message = {404: f"no such endpoint: {request.url.path} (see /v1/openapi.json)",
               405: f"{request.method} is not allowed on {request.url.path}"}.get(
        exc.status_code, str(exc.detail))
    return _refuse(GatewayError(exc.status_code, code, message), dict(exc.headers or {}))


def openapi_document() -> bytes:
    """The shipped OpenAPI document (generated from the protos: openapi.py)."""
    return resources.files(__package__).joinpath("openapi.json").read_bytes()


def build_app(settings: GatewaySettings) -> Starlette:
    """The gateway application; its gRPC channels open with the app's lifespan."""
    document = openapi_document()

    async def openapi(request: Request) -> Response:
        return Response(document, media_type=JSON)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        app.state.upstream = Upstream(settings.upstream)
        try:
            yield
        finally:
            await app.state.upstream.close()

    routes = [Route(r.path, endpoint(r, settings), methods=[r.verb], name=r.operation_id)
              for r in http_routes()]
    routes.append(Route("/v1/openapi.json", openapi, methods=["GET"], name="openapi"))
    return Starlette(routes=routes, lifespan=lifespan,
                     exception_handlers={HTTPException: _http_error})
