"""The error hierarchy every nikgate layer raises, each class with its gRPC status code.

    NikgateError                    INTERNAL            the base; also any server bug
    ├── InvalidInputError           INVALID_ARGUMENT    the caller sent something malformed
    │   ├── InvalidNikError                             a NIK that fails validation (`reason`)
    │   ├── InvalidClaimError                           a claimed value that cannot be compared
    │   └── SourceError                                 records to send raised (client side)
    ├── Unauthenticated             UNAUTHENTICATED     no, a revoked or an unknown certificate
    ├── PermissionDenied            PERMISSION_DENIED   the grant does not allow it (`fields`)
    ├── ResourceExhausted           RESOURCE_EXHAUSTED  retry after `retry_after` seconds
    │   ├── LimitExceeded (= QuotaExceeded)             a quota or rate (`kind`, `subject`)
    │   └── Overloaded                                  a worker at its in-flight limit
    ├── ServiceUnavailable          UNAVAILABLE         not served now: retry (`retry_after`)
    │   ├── AuditUnavailable                            the audit log cannot be written
    │   ├── StorageUnavailable                          a store failed; nothing acknowledged
    │   └── StreamLifetimeReached                       a stream reached its maximum lifetime
    ├── DeadlineExceeded            DEADLINE_EXCEEDED   the call ran out of time
    │   └── DeadlineCapExceeded                         ... past the server's deadline cap
    ├── WarehouseFileError          FAILED_PRECONDITION a warehouse export or delta unreadable
    ├── IndexError_                 INTERNAL            the index on disk cannot serve
    │   ├── IndexMissingError       UNAVAILABLE         no published index at the given path
    │   ├── IndexFormatError        FAILED_PRECONDITION an index of an unknown format version
    │   ├── CorruptRecordError      DATA_LOSS           a record failed its checksum
    │   └── IndexDamagedError                           `index verify` found damage
    ├── AuditError                  UNAVAILABLE         the audit log cannot be written or read
    │   ├── AuditKeyError                               the NIK-reference key file is unusable
    │   ├── AuditLogMissing                             no audit log at the directory given
    │   └── StreamBusyError                             another live writer holds the stream
    ├── PkiError                    INTERNAL            a PKI directory or certificate unusable
    │   └── PkiMissing                                  no CA at the directory given
    ├── CardError                   FAILED_PRECONDITION the card reader, on the teller's PC
    │   ├── ReaderError                                 no such reader, no PC/SC, no card
    │   ├── CardRemoved                                 the card or SAM left mid-operation
    │   ├── CardStatusError                             an unexpected status word (`sw`)
    │   ├── CardAuthenticationFailed                    the chip lacks Dukcapil's keys: a clone
    │   ├── SecureMessagingError                        a protected reply failed its MAC
    │   ├── DocumentSignatureInvalid                    the chip's data are not what was signed
    │   ├── FingerprintNotMatched                       no match within the attempt cap
    │   ├── CardRefused                                 a step this session cannot take
    │   └── SamError                                    the SAM refused or is unusable
    │       ├── SamSecretWrong                          wrong unlock secret (`tries_left`)
    │       └── SamLocked                               blocked after too many wrong secrets
    └── RemoteError                 (as received)       a status with no class of its own

A failed verification is a result, not an exception. `code` names the status as a string
(this module does not import grpc: the engine imports it); server/status.py turns it into
the status and google.rpc details, and the clients turn those back into the same class with
`from_status`, so a client user catches these classes, never a grpc.RpcError. An error made
from a status also carries `grpc_code` (the code received) and `transaction_id`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class NikgateError(Exception):
    """Base class of every error nikgate raises on purpose."""

    code = "INTERNAL"               # the gRPC status this class is answered with
    # Set on errors rebuilt from a status (client side): what came over the wire.
    grpc_code: str | None = None
    transaction_id: str = ""
    retry_after: float | None = None


class InvalidInputError(NikgateError):
    """The caller sent something malformed; the message says what and how to fix it."""

    code = "INVALID_ARGUMENT"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidNikError(InvalidInputError):
    """A NIK failed validation. `reason` is a stable machine-readable code."""

    def __init__(self, message: str, *, reason: str = "", field: str = "nik") -> None:
        super().__init__(message, field=field)
        self.reason = reason


class InvalidClaimError(InvalidInputError):
    """A claimed value cannot be compared (unknown code, bad date, too long)."""


class SourceError(InvalidInputError):
    """The records given to ReturnDataSender.send raised; what was read before was sent
    and answered (`report`, a SendReport, says what happened to it)."""

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report


class Unauthenticated(NikgateError):
    """The caller's certificate is missing, revoked or names no known institution."""

    code = "UNAUTHENTICATED"


class PermissionDenied(NikgateError):
    """The grant does not allow this call; the message says which rule and why. `fields`
    names the fields refused, if that was the reason."""

    code = "PERMISSION_DENIED"

    def __init__(self, message: str, fields: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.fields = tuple(fields)


class ResourceExhausted(NikgateError):
    """A limit was reached: retry after `retry_after` seconds (None: not said)."""

    code = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LimitExceeded(ResourceExhausted):
    """Quota or rate exceeded: retry after `retry_after` seconds. `kind` is the limit
    (e.g. daily_quota, rate, scraping), `subject` the counter ("<institution>:<kind>")."""

    def __init__(self, message: str, kind: str = "", subject: str = "",
                 retry_after: float | None = None) -> None:
        super().__init__(message, retry_after)
        self.kind = kind
        self.subject = subject


QuotaExceeded = LimitExceeded   # the name a client user may look for first


class Overloaded(ResourceExhausted):
    """The worker is at its in-flight limit; the caller should retry after a pause."""

    def __init__(self, message: str, retry_after: float | None = 0.05) -> None:
        super().__init__(message, retry_after)


class ServiceUnavailable(NikgateError):
    """The service cannot answer now (down, restarting, a store or the audit log failing);
    nothing was done. Retry, after `retry_after` seconds when the server said so."""

    code = "UNAVAILABLE"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuditUnavailable(ServiceUnavailable):
    """The audit log cannot be written now; nothing was answered. Retry after a pause."""

    def __init__(self, message: str, retry_after: float | None = 1.0) -> None:
        super().__init__(message, retry_after)


class StorageUnavailable(ServiceUnavailable):
    """A store (LMDB, a file) failed while serving the call; nothing was acknowledged."""

    def __init__(self, message: str, retry_after: float | None = 1.0) -> None:
        super().__init__(message, retry_after)


class StreamLifetimeReached(ServiceUnavailable):
    """A stream reached the server's maximum lifetime; every message read was answered."""

    def __init__(self, message: str, retry_after: float | None = 0.0) -> None:
        super().__init__(message, retry_after)


class DeadlineExceeded(NikgateError):
    """The call did not finish in time (the caller's deadline or the server's cap)."""

    code = "DEADLINE_EXCEEDED"


class DeadlineCapExceeded(DeadlineExceeded):
    """The call ran past the server's deadline cap."""


class WarehouseFileError(NikgateError):
    """A warehouse export or delta file cannot be ingested at all (e.g. a missing column)."""

    code = "FAILED_PRECONDITION"


class IndexError_(NikgateError):
    """The index on disk cannot serve the request."""


class IndexMissingError(IndexError_):
    """No published index exists at the given path."""

    code = "UNAVAILABLE"


class IndexFormatError(IndexError_):
    """The index was written in a format version this build does not understand."""

    code = "FAILED_PRECONDITION"


class CorruptRecordError(IndexError_):
    """A stored record failed its xxh3 checksum: the index is damaged, nothing is returned."""

    code = "DATA_LOSS"


class IndexDamagedError(IndexError_):
    """Verification found a damaged index; `report` (engine.integrity.VerifyReport) says
    what. A build or delta that fails it is not published."""

    def __init__(self, message: str, *, report: object = None) -> None:
        super().__init__(message)
        self.report = report


class AuditError(NikgateError):
    """The audit log cannot be written or read as asked; the message says what to do."""

    code = "UNAVAILABLE"


class AuditKeyError(AuditError):
    """The key file for NIK references is missing, malformed or readable by others."""


class AuditLogMissing(AuditError):
    """No audit log directory at the path given: a path mistake, or the wrong host."""


class StreamBusyError(AuditError):
    """Another process (or another AuditLog in this one) is writing the stream."""


class PkiError(NikgateError):
    """The PKI directory or a certificate cannot be used as asked; the message says why."""


class PkiMissing(PkiError):
    """No CA at the directory given: a path mistake, or `nikgate pki init` not run there."""


# --------------------------------------------------------------------------- card reader
# Raised on the teller's PC (nikgate.card, nikgate.clients.cardreader), never sent by the
# server. A readout is all or nothing: when one of these is raised no partial one exists.

class CardError(NikgateError):
    """Base class of card-reader errors; every message says what the teller should do."""

    code = "FAILED_PRECONDITION"


class ReaderError(CardError):
    """The reader cannot be used: not found, PC/SC not running, no card in it."""


class CardRemoved(CardError):
    """The card or the SAM was taken out (or lost power) during the operation."""

    def __init__(self, message: str = "the card was removed during the read; nothing was "
                 "kept: lay the card on the reader again and repeat") -> None:
        super().__init__(message)


class CardStatusError(CardError):
    """The card or SAM answered a status word the protocol does not allow at this step."""

    def __init__(self, message: str, *, sw: int = 0, command: str = "") -> None:
        from nikgate.card.apdu import describe_sw  # here: nikgate.card imports this module

        super().__init__(f"{message} ({describe_sw(sw)})" if sw else message)
        self.sw = sw
        self.command = command


class CardAuthenticationFailed(CardError):
    """Mutual authentication failed: the chip does not hold keys derived from Dukcapil's."""

    def __init__(self, message: str = "the card failed authentication: it is not a genuine "
                 "KTP-el (a cloned or foreign card); do not accept it, ask for another "
                 "identity document") -> None:
        super().__init__(message)


class SecureMessagingError(CardError):
    """A protected reply failed its MAC or had the wrong shape."""


class DocumentSignatureInvalid(CardError):
    """The chip's files are not what the Dukcapil document signer signed."""

    def __init__(self, message: str = "the chip's data do not match Dukcapil's document "
                 "signature: the card has been altered; do not accept it and report the "
                 "card") -> None:
        super().__init__(message)


class FingerprintNotMatched(CardError):
    """The finger did not match the chip within the attempt cap: the card is refused for
    this session. `sent` says whether the refused readout was reported to nikgate
    (`check` with report_refusal=True); `result` is then the server's answer (a
    nikgate.clients.cardreader.CardCheck)."""

    def __init__(self, attempts: int, finger: int, best_score: float, *,
                 finger_name: str = "", sent: bool = False, result: Any = None) -> None:
        sent_text = (f"the refused check was recorded by nikgate (transaction "
                     f"{result.transaction_id})" if sent and result is not None
                     else "nothing was sent to nikgate")
        super().__init__(
            f"the {finger_name or f'finger {finger}'} finger did not match the card after "
            f"{attempts} {'attempt' if attempts == 1 else 'attempts'} (best score "
            f"{best_score:.0f}): the card is refused for this session; {sent_text}. Do not "
            "accept the card as proof of identity: ask for another document or refer the "
            "citizen to Dukcapil")
        self.attempts = attempts
        self.finger = finger
        self.finger_name = finger_name
        self.best_score = best_score
        self.sent = sent
        self.result = result


class CardRefused(CardError):
    """A step was asked for that this session cannot take: no card read yet, the card was
    refused earlier (failed fingerprint), or the fingerprint was not matched."""


class SamError(CardError):
    """The SAM refused a command or is not the SAM expected."""


class SamSecretWrong(SamError):
    """The unlock secret was wrong; `tries_left` more attempts before the SAM locks."""

    def __init__(self, tries_left: int) -> None:
        super().__init__(f"the SAM unlock secret is wrong: {tries_left} "
                         f"{'try' if tries_left == 1 else 'tries'} left before the SAM "
                         "locks itself; check the secret in the reader's configuration")
        self.tries_left = tries_left


class SamLocked(SamError):
    """The SAM blocked itself after too many wrong secrets; only Dukcapil can replace it."""

    def __init__(self) -> None:
        super().__init__("the SAM is locked after too many wrong unlock secrets; the reader "
                         "cannot read cards until Dukcapil issues a new SAM")


class RemoteError(NikgateError):
    """The server (or the transport) ended a call with a status no class here stands for
    (e.g. CANCELLED, UNIMPLEMENTED, INTERNAL); `grpc_code` names it."""


# --------------------------------------------------------------------------- from a status

def classes() -> Iterator[type[NikgateError]]:
    """Every class of the hierarchy (this module's), parents before children."""
    todo: list[type[NikgateError]] = [NikgateError]
    while todo:
        cls = todo.pop(0)
        yield cls
        todo.extend(c for c in cls.__subclasses__() if c.__module__ == __name__)


# The class a status stands for when the server did not name one (another server, the
# transport, a client deadline): the family of that code.
_FAMILY_OF = {cls.code: cls for cls in (
    InvalidInputError, Unauthenticated, PermissionDenied, ResourceExhausted,
    ServiceUnavailable, DeadlineExceeded)}

_ATTRIBUTES = ("field", "reason", "fields", "kind", "subject", "retry_after")


def from_status(code: str, message: str, *, name: str = "", transaction_id: str = "",
                **attributes: object) -> NikgateError:
    """The nikgate error a status stands for: the class the server named (`name`, sent in
    an ErrorInfo detail) if it exists here and answers with `code`, else the family of
    `code`, else RemoteError. `attributes` (field, reason, fields, kind, subject,
    retry_after) are set when not None; `grpc_code` keeps `code`."""
    by_name = {c.__name__: c for c in classes()}
    cls = by_name.get(name)
    if cls is None or cls.code != code:
        cls = _FAMILY_OF.get(code, RemoteError)
        if cls is InvalidInputError and attributes.get("reason"):
            cls = InvalidNikError
    try:
        error = cls(message)
    except TypeError:   # a class made only on this side (a card error): not from a server
        error = _FAMILY_OF.get(code, RemoteError)(message)
    for attr, value in attributes.items():
        if attr not in _ATTRIBUTES:
            raise TypeError(f"from_status() got an unknown attribute {attr!r}")
        if value is not None:
            setattr(error, attr, value)
    error.grpc_code = code
    error.transaction_id = transaction_id
    return error
