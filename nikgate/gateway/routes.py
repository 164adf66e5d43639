"""HTTP routes read from the `google.api.http` annotations of the method descriptors.

Nothing here names an endpoint: a method gains a JSON route by gaining an annotation in its
.proto file. Supported rules are those the v1 API uses: a literal path (no `{field}`
templates), `body: "*"` for POST and no body for GET (scalar fields from the query string).
A client-streaming method (ReturnData/Submit) takes one message per HTTP request and its
one answer is returned.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.api import annotations_pb2, http_pb2

from nikgate.methods import RPCS, Rpc

_VERBS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class HttpRoute:
    """One annotated method: its HTTP verb and path, and the RPC behind it."""

    verb: str            # "GET", "POST", ...
    path: str            # "/v1/verify:batch"
    rpc: Rpc
    body: str            # "*" (the whole message is the body) or "" (query string)

    @property
    def operation_id(self) -> str:
        return f"{self.rpc.service.rsplit('.', 1)[-1]}_{self.rpc.name}"


def _rule_route(rpc: Rpc, rule: http_pb2.HttpRule) -> HttpRoute:
    verb = rule.WhichOneof("pattern")
    if verb not in _VERBS:
        raise ValueError(f"{rpc.path}: http rule {verb!r} is not supported")
    path = getattr(rule, verb)
    if "{" in path:
        raise ValueError(f"{rpc.path}: path templates are not supported ({path})")
    if rule.body not in ("", "*") or (verb == "get" and rule.body):
        raise ValueError(f"{rpc.path}: body must be '*' (or none for GET), got {rule.body!r}")
    if rpc.server_streaming and rpc.client_streaming is False:
        raise ValueError(f"{rpc.path}: server-streaming methods have no JSON route")
    return HttpRoute(verb.upper(), path, rpc, rule.body)


def http_routes() -> tuple[HttpRoute, ...]:
    """Every annotated method of the v1 API (additional_bindings included), in table order."""
    routes = []
    for rpc in RPCS.values():
        pool = rpc.request.DESCRIPTOR.file.pool
        method = pool.FindMethodByName(rpc.path[1:].replace("/", "."))
        options = method.GetOptions()
        if not options.HasExtension(annotations_pb2.http):
            continue
        rule = options.Extensions[annotations_pb2.http]
        for r in (rule, *rule.additional_bindings):
            routes.append(_rule_route(rpc, r))
    seen: set[tuple[str, str]] = set()
    for r in routes:
        if (r.verb, r.path) in seen:
            raise ValueError(f"two methods claim {r.verb} {r.path}")
        seen.add((r.verb, r.path))
    return tuple(routes)
