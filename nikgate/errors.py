"""The error hierarchy every nikgate layer raises.

    NikgateError
    ├── InvalidInputError          the caller sent something malformed
    │   ├── InvalidNikError        a NIK that fails validation (carries a reason code)
    │   └── InvalidClaimError      a claimed field value that cannot be compared
    ├── WarehouseFileError         a warehouse export or delta that cannot be read at all
    └── IndexError_                the index on disk cannot serve
        ├── IndexMissingError      no published index at the given path
        ├── IndexFormatError       an index written by an unknown format version
        ├── CorruptRecordError     a stored record failed its checksum or is unreachable
        └── IndexDamagedError      `index verify` found damage (build/apply refuse to publish)

A failed verification is a result, not an exception. The gRPC layer maps these classes to
status codes in one table (server/status.py); nothing else decides a status code.
"""

from __future__ import annotations


class NikgateError(Exception):
    """Base class of every error nikgate raises on purpose."""


class InvalidInputError(NikgateError):
    """The caller sent something malformed; the message says what and how to fix it."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidNikError(InvalidInputError):
    """A NIK failed validation. `reason` is a stable machine-readable code."""

    def __init__(self, message: str, *, reason: str, field: str = "nik") -> None:
        super().__init__(message, field=field)
        self.reason = reason


class InvalidClaimError(InvalidInputError):
    """A claimed value cannot be compared (unknown code, bad date, too long)."""


class WarehouseFileError(NikgateError):
    """A warehouse export or delta file cannot be ingested at all (e.g. a missing column)."""


class IndexError_(NikgateError):
    """The index on disk cannot serve the request."""


class IndexMissingError(IndexError_):
    """No published index exists at the given path."""


class IndexFormatError(IndexError_):
    """The index was written in a format version this build does not understand."""


class CorruptRecordError(IndexError_):
    """A stored record failed its xxh3 checksum: the index is damaged, nothing is returned."""


class IndexDamagedError(IndexError_):
    """Verification found a damaged index; `report` (engine.integrity.VerifyReport) says
    what. A build or delta that fails it is not published."""

    def __init__(self, message: str, *, report: object = None) -> None:
        super().__init__(message)
        self.report = report
