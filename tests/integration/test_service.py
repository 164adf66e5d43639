"""The web service over real mutual TLS: who gets in, and what Verify/Lookup answer."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from nikgate.v1 import common_pb2, lookup_pb2, lookup_pb2_grpc
from nikgate.v1 import verification_pb2 as vpb
from nikgate.v1 import verification_pb2_grpc as vgrpc

from .conftest import channel


@pytest.fixture(scope="module")
def person(index):
    nik = index.sample_niks(1, start=3500000000000000)[0]
    return nik, index.lookup(nik, ["NAMA_LGKP", "TGL_LHR", "JENIS_KLMIN"])


def _verify(port, certs, which, request, timeout=10):
    with channel(port, certs, which) as ch:
        return vgrpc.VerificationStub(ch).Verify(request, timeout=timeout)


def test_good_certificate_verifies_and_looks_up(server, certs, person):
    nik, p = person
    resp = _verify(server.port, certs, "good", vpb.VerifyRequest(
        nik=nik, claims={"NAMA_LGKP": p["NAMA_LGKP"].lower(), "TGL_LHR": p["TGL_LHR"]},
        request_id="r-1"))
    assert resp.status == common_pb2.ITEM_STATUS_FOUND
    assert resp.request_id == "r-1" and resp.transaction_id
    assert sorted((f.field, f.outcome, f.score) for f in resp.fields) == [
        ("NAMA_LGKP", common_pb2.OUTCOME_MATCH, 100), ("TGL_LHR", common_pb2.OUTCOME_MATCH, 100)]
    assert resp.receipt.signature
    with channel(server.port, certs) as ch:
        got = lookup_pb2_grpc.LookupStub(ch).Lookup(
            lookup_pb2.LookupRequest(nik=nik, fields=["NAMA_LGKP", "KEC_NAME"]), timeout=10)
    assert dict(got.values).keys() == {"NAMA_LGKP", "KEC_NAME"}
    assert got.values["NAMA_LGKP"] == p["NAMA_LGKP"]


@pytest.mark.parametrize("which", ["", "other_ca", "expired"])
def test_handshake_refuses_missing_foreign_or_expired_certificates(server, certs, person, which):
    with pytest.raises(grpc.RpcError) as info:
        _verify(server.port, certs, which, vpb.VerifyRequest(nik=person[0],
                                                             claims={"NAMA_LGKP": "X"}),
                timeout=5)
    assert info.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAUTHENTICATED)


@pytest.mark.parametrize("which,message", [
    ("revoked", "revoked"),
    ("unknown", "not registered"),
])
def test_revoked_or_unknown_institution_is_unauthenticated(server, certs, person, which,
                                                           message):
    with pytest.raises(grpc.RpcError) as info:
        _verify(server.port, certs, which, vpb.VerifyRequest(nik=person[0],
                                                             claims={"NAMA_LGKP": "X"}))
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert message in info.value.details()


def _bad_request(err: grpc.RpcError) -> error_details_pb2.BadRequest:
    status = rpc_status.from_call(err)
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            out = error_details_pb2.BadRequest()
            detail.Unpack(out)
            return out
    raise AssertionError("no BadRequest detail")


@pytest.mark.parametrize("nik,reason,text", [
    ("320101050790001", "LENGTH", "16 digits, got 15"),
    ("32010105079O0001", "NON_DIGIT", "only digits"),
    ("9901010507900001", "UNKNOWN_PROVINCE", "province code 99"),
])
def test_malformed_nik_is_invalid_argument_with_field_violation(server, certs, nik, reason,
                                                                text):
    with pytest.raises(grpc.RpcError) as info:
        _verify(server.port, certs, "good", vpb.VerifyRequest(nik=nik,
                                                              claims={"NAMA_LGKP": "X"}))
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert text in info.value.details()
    violation = _bad_request(info.value).field_violations[0]
    assert violation.field == "nik" and violation.reason == reason


def test_empty_request_and_bad_claims_name_the_problem(server, certs, person):
    for request, text in [
        (vpb.VerifyRequest(), "NIK is empty"),
        (vpb.VerifyRequest(nik=person[0]), "no claimed fields"),
        (vpb.VerifyRequest(nik=person[0], claims={"NAMA": "X"}), "'NAMA' is not a field"),
        (vpb.VerifyRequest(nik=person[0], claims={"TGL_LHR": "05-07-1990"}), "YYYY-MM-DD"),
    ]:
        with pytest.raises(grpc.RpcError) as info:
            _verify(server.port, certs, "good", request)
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert text in info.value.details()
