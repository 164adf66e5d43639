"""The JSON/HTTPS face of the v1 API: a gateway that transcodes to the gRPC service.

Routes come from the `google.api.http` annotations in proto/nikgate/v1 (routes.py), bodies
and answers are the proto3 JSON mapping of the same messages (transcode.py), and every
call goes to the gRPC service with the gateway's adapter certificate, on behalf of the
institution whose certificate was presented here (upstream.py), so grants, quotas, audit
and receipts are exactly those of gRPC. docs/json-api.md describes the API.

    app.py        the Starlette application: checks, transcoding, answers
    errors.py     gRPC status -> HTTP status (the one table), google.rpc.Status JSON
    openapi.py    the OpenAPI 3 document generated from the descriptors (openapi.json)
    routes.py     HTTP rules read from the method descriptors
    server.py     `nikgate gateway`: uvicorn with mutual TLS
    tls.py        the TLS context and the peer certificate of each connection
    transcode.py  strict proto3 JSON parsing, fast for columnar batches
    upstream.py   the gRPC channel and the delegation header
"""
