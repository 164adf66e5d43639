"""One error hierarchy: every class names its gRPC code, one table maps them, and a status
maps back to the class (nikgate.errors, server/status.py, clients/errors.py)."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from nikgate import errors
from nikgate.clients.errors import from_rpc_error
from nikgate.server import status

CLASSES = list(errors.classes())


def test_every_error_class_lives_in_one_module_and_names_a_real_code():
    assert len(CLASSES) >= 26
    for cls in CLASSES:
        assert cls.__module__ == "nikgate.errors", cls
        assert grpc.StatusCode[cls.code], cls    # KeyError for a misspelt name


def test_no_module_defines_an_error_class_of_its_own():
    """Every NikgateError subclass anywhere in the package is defined in nikgate.errors: a
    copy elsewhere would be answered (and caught by clients) as a different class."""
    import importlib
    import pkgutil

    import nikgate

    # nikgate.engine, .server, .clients and .v1 live in folders of their own (package-dir)
    packages = [nikgate, *(importlib.import_module(f"nikgate.{name}")
                           for name in ("engine", "server", "clients"))]
    for package in packages:
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not module.name.endswith(("_pb2", "_pb2_grpc", "__main__")):
                importlib.import_module(module.name)
    everywhere, todo = [], [errors.NikgateError]
    while todo:
        cls = todo.pop()
        everywhere.append(cls)
        todo.extend(cls.__subclasses__())
    assert len(everywhere) >= 35       # the card reader's included: the walk imported them
    strays = [f"{c.__module__}.{c.__qualname__}" for c in everywhere
              if c.__module__ != "nikgate.errors"]
    assert not strays, f"define these in nikgate/errors.py: {strays}"


def test_the_status_table_is_each_class_code():
    assert set(status.STATUS_OF) == set(CLASSES)
    for cls, code in status.STATUS_OF.items():
        assert code is grpc.StatusCode[cls.code]
    expected = {
        errors.InvalidNikError: "INVALID_ARGUMENT", errors.Unauthenticated: "UNAUTHENTICATED",
        errors.PermissionDenied: "PERMISSION_DENIED", errors.LimitExceeded: "RESOURCE_EXHAUSTED",
        errors.Overloaded: "RESOURCE_EXHAUSTED", errors.AuditUnavailable: "UNAVAILABLE",
        errors.StorageUnavailable: "UNAVAILABLE", errors.StreamLifetimeReached: "UNAVAILABLE",
        errors.AuditError: "UNAVAILABLE", errors.DeadlineCapExceeded: "DEADLINE_EXCEEDED",
        errors.CorruptRecordError: "DATA_LOSS", errors.IndexMissingError: "UNAVAILABLE",
        errors.IndexFormatError: "FAILED_PRECONDITION", errors.PkiError: "INTERNAL",
        errors.WarehouseFileError: "FAILED_PRECONDITION", errors.IndexDamagedError: "INTERNAL"}
    for cls, name in expected.items():
        assert status.status_code_of(cls("x")).name == name, cls
    assert status.status_code_of(ValueError("a bug")) is grpc.StatusCode.INTERNAL


class _Failed(grpc.RpcError):
    """What a failed call looks like to a client: code, details, trailing metadata."""

    def __init__(self, st: grpc.Status | None, code=None, details="") -> None:
        self._status = st
        self._code = st.code if st else code
        self._details = st.details if st else details

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._status.trailing_metadata if self._status else ()


def _round_trip(error: BaseException, tx: str = "tx-1") -> errors.NikgateError:
    return from_rpc_error(_Failed(status.rich_status(error, tx)), "127.0.0.1:1")


@pytest.mark.parametrize("error", [
    errors.InvalidNikError("NIK must be 16 digits, got 15", reason="LENGTH"),
    errors.InvalidClaimError("TGL_LHR must be YYYY-MM-DD", field="TGL_LHR"),
    errors.PermissionDenied("field(s) ALAMAT not granted", fields=("ALAMAT",)),
    errors.LimitExceeded("daily quota reached", "daily_quota", "bank-a:daily_quota", 12.5),
    errors.Overloaded("server busy", retry_after=0.05),
    errors.AuditUnavailable("audit log full", retry_after=2.0),
    errors.StorageUnavailable("disk full"),
    errors.StreamLifetimeReached("stream lifetime"),
    errors.DeadlineCapExceeded("past the cap"),
    errors.Unauthenticated("revoked"),
    errors.CorruptRecordError("checksum"),
    errors.IndexMissingError("no index"),
])
def test_a_status_maps_back_to_the_same_class_with_its_attributes(error):
    back = _round_trip(error)
    assert type(back) is type(error)
    assert str(back) == str(error)
    assert back.grpc_code == error.code and back.transaction_id == "tx-1"
    for attr in ("field", "reason", "fields", "kind", "subject", "retry_after"):
        assert getattr(back, attr, None) == getattr(error, attr, None), attr


def test_an_internal_error_names_nothing_but_the_transaction():
    back = _round_trip(errors.IndexDamagedError("segment 3 of /srv/idx is damaged"), "tx-9")
    assert type(back) is errors.RemoteError and back.grpc_code == "INTERNAL"
    assert "/srv/idx" not in str(back) and "tx-9" in str(back)
    assert back.transaction_id == "tx-9"


def test_statuses_from_the_transport_map_to_their_family():
    gone = from_rpc_error(_Failed(None, grpc.StatusCode.UNAVAILABLE, "connection refused"),
                          "10.0.0.1:50051")
    assert type(gone) is errors.ServiceUnavailable and gone.grpc_code == "UNAVAILABLE"
    assert "10.0.0.1:50051" in str(gone) and gone.retry_after is None
    late = from_rpc_error(_Failed(None, grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline"))
    assert type(late) is errors.DeadlineExceeded
    odd = from_rpc_error(_Failed(None, grpc.StatusCode.UNIMPLEMENTED, "no such method"))
    assert type(odd) is errors.RemoteError and odd.grpc_code == "UNIMPLEMENTED"


def test_a_class_named_by_another_server_is_not_trusted_beyond_its_code():
    st = status.rich_status(errors.PermissionDenied("no"), "")
    assert any(d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)
               for d in __import__("grpc_status").rpc_status.from_call(_Failed(st)).details)
    # a name whose class answers with another code falls back to the code's family
    assert type(errors.from_status("UNAVAILABLE", "x", name="PermissionDenied")) is \
        errors.ServiceUnavailable
    assert type(errors.from_status("INVALID_ARGUMENT", "x", reason="LENGTH")) is \
        errors.InvalidNikError


def test_the_cli_reports_each_family_with_a_stable_exit_status():
    from nikgate.cli import exit_status, report

    statuses = {errors.InvalidNikError("x"): 2, errors.Unauthenticated("x"): 4,
                errors.PermissionDenied("x"): 4, errors.LimitExceeded("x"): 5,
                errors.Overloaded("x"): 5, errors.ServiceUnavailable("x"): 6,
                errors.DeadlineExceeded("x"): 6, errors.AuditError("x"): 1,
                errors.PkiError("x"): 1, errors.RemoteError("x"): 1}
    for error, code in statuses.items():
        assert exit_status(error) == code, type(error)
    back = _round_trip(errors.LimitExceeded("daily quota of 300 reached", "daily_quota",
                                            "bank-a:daily_quota", 12.5), "tx-7")
    assert report(back) == ("nikgate: error: daily quota of 300 reached (retry after 12.5 s; "
                            "status RESOURCE_EXHAUSTED, transaction tx-7)")   # one line
    assert report(errors.PkiError("no CA")) == "nikgate: error: no CA"
