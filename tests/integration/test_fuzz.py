"""Fuzzed bytes against every method of a real `nikgate serve`: never INTERNAL or UNKNOWN,
no worker dies, health stays SERVING (issue 10, item 7)."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nikgate import methods
from nikgate.v1 import verification_pb2 as vpb

from .test_serve import Served, _write_config

ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT,
           grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.RESOURCE_EXHAUSTED,
           grpc.StatusCode.UNAUTHENTICATED}

# Mutations of valid messages find more than random bytes: they get past the first byte.
_VALID = vpb.VerifyBatchRequest(niks=["3201014507900001", "3201014507900002"],
                                fields=["NAMA_LGKP"], columns=[vpb.ClaimColumn(
                                    values=["BUDI", "SITI"])], purpose="kyc",
                                request_id="r1").SerializeToString()


@st.composite
def bodies(draw):
    kind = draw(st.sampled_from(["random", "mutated", "truncated"]))
    if kind == "random":
        return draw(st.binary(max_size=256))
    if kind == "truncated":
        return _VALID[: draw(st.integers(0, len(_VALID) - 1))]
    data = bytearray(_VALID)
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    return bytes(data)


def _probe(call, streaming: bool, path: str, seen: dict) -> None:
    @settings(max_examples=25, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(body=bodies())
    def probe(body):
        try:
            if streaming:
                list(call(iter([body, body]), timeout=10))
            else:
                call(body, timeout=10)
            code = grpc.StatusCode.OK
        except grpc.RpcError as e:
            code = e.code()
            assert code in ALLOWED, (path, body, code, e.details())
        seen[code] = seen.get(code, 0) + 1

    probe()


@pytest.fixture(scope="module")
def served(server_config, certs, tmp_path_factory):
    work = tmp_path_factory.mktemp("fuzz")
    s = Served(_write_config(work / "n.toml", server_config), work / "port")
    yield s
    s.stop()


def test_fuzzed_messages_never_get_internal_or_unknown(served, certs):
    creds = {which: grpc.ssl_channel_credentials(certs.ca, *getattr(certs, which))
             for which in ("good", "operator")}
    workers_before = served.workers()
    assert len(workers_before) == 2
    channels = {w: grpc.secure_channel(f"localhost:{served.port}", c)
                for w, c in creds.items()}
    seen: dict[grpc.StatusCode, int] = {}
    try:
        for rpc in methods.RPCS.values():
            for ch in channels.values():
                if rpc.streaming:
                    call = ch.stream_stream(rpc.path, lambda b: b, lambda b: b)
                else:
                    call = ch.unary_unary(rpc.path, lambda b: b, lambda b: b)

                _probe(call, rpc.streaming, rpc.path, seen)
        with grpc.secure_channel(f"localhost:{served.port}", creds["good"]) as ch:
            status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(),
                                                          timeout=5).status
        assert status == health_pb2.HealthCheckResponse.SERVING
        assert served.workers() == workers_before       # no worker died on the way
        assert seen.get(grpc.StatusCode.INVALID_ARGUMENT, 0) > 0
    finally:
        for ch in channels.values():
            ch.close()
    err = served.stop()
    assert "Traceback" not in err, err[-3000:]
