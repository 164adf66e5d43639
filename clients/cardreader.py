"""The teller's card session: SAM, KTP-el, finger on the device, then CardVerify.

A branch application drives one reader (card slot + SAM slot) through a
`CardReaderSession`:

    conn = Connection.from_file("connection.json", "card-reader-demo")
    with CardReaderSession("pcsc:Virtual PCD 00 00", "pcsc:Virtual PCD 00 01",
                           connection=conn, reader_serial="BRANCH-17-R2") as session:
        session.unlock(secret)                     # SamSecretWrong(tries_left) | SamLocked
        session.wait_for_card()
        readout = session.read_card()              # cloned/altered/removed: refused here
        session.match_fingerprint(sensor)          # on the device, at most max_attempts
        check = session.verify()                   # GetChallenge, SAM signs, CardVerify
        check.verdict, check.message, check.fields, check.receipt

`check(sensor)` does the last three in one call. The order is the security argument: the
chip and its document signature are checked inside the SAM before anything reaches the
server (a clone or altered data never cause a server call), the fingerprint template never
leaves this process, and the SAM signs the readout over a single-use challenge from the
server, so the PC can neither forge nor replay a readout. A verdict (VERIFIED,
CARD_REPLACED, DECEASED, ...) is a result; everything that stops the check is an exception
whose message is written for the teller (`teller_message` adds what to do for the server's
refusals): the card errors of nikgate.card, FingerprintNotMatched, CardRefused, and the
nikgate errors the server answers with (clients/errors.py), PermissionDenied above all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import grpc

from nikgate import errors
from nikgate.card import (
    Reader,
    Readout,
    SamInfo,
    SamSession,
    digest_of,
    open_reader,
    read_card,
    readout_values,
)
from nikgate.errors import (  # noqa: F401  (FingerprintNotMatched: part of this API)
    CardError,
    CardRefused,
    FingerprintNotMatched,
    ReaderError,
)
from nikgate.fingerprint import (
    DEFAULT_THRESHOLD,
    FINGER_NAMES,
    LEFT_INDEX,
    MAX_ATTEMPTS,
    RIGHT_INDEX,
    FingerTemplate,
    decode_template,
    prepare,
    verify,
)
from nikgate.fingerprint.synth import Distortion, finger_template, live_capture, seed_for
from nikgate.v1 import card_reader_pb2

from .connection import Connection
from .errors import mapped
from .requests import Reply, raw

# The chip's EF name for each finger the session may ask for.
_FINGER_KEYS = {RIGHT_INDEX: "right_index", LEFT_INDEX: "left_index"}
_VERDICT_PREFIX = "CARD_VERDICT_"


class FingerprintSensor(Protocol):
    """A fingerprint sensor on the reader: one live capture per call, as a minutiae
    template (the sensor's extractor runs on the device)."""

    def capture(self, finger: int) -> FingerTemplate:
        """Ask the citizen to press `finger` (ISO code: 2 right index, 7 left index) and
        return what the sensor extracted."""
        ...


class SyntheticSensor:
    """A sensor for demos and tests: captures of the card holder's own finger (genuine)
    or of someone else's same finger (impostor), with the synthetic distortions of
    nikgate.fingerprint.synth. Deterministic from `holder`, `seed` and the attempt.

    `genuine_from` makes the first captures impostor ones and the later genuine (a
    finger that is badly placed at first); None keeps `impostor` for every capture.
    """

    def __init__(self, holder: str, *, impostor: bool = False, seed: int = 0,
                 genuine_from: int | None = None,
                 distortion: Distortion | None = None) -> None:
        self.holder = holder
        self.impostor = impostor
        self.seed = seed
        self.genuine_from = genuine_from
        self.distortion = distortion
        self.captures = 0

    def capture(self, finger: int) -> FingerTemplate:
        """The next synthetic capture of `finger` (see the class docstring)."""
        self.captures += 1
        impostor = (self.captures < self.genuine_from if self.genuine_from is not None
                    else self.impostor)
        person = f"impostor of {self.holder}" if impostor else self.holder
        return live_capture(finger_template(person, finger),
                            seed_for("capture", self.seed, self.holder, finger,
                                     self.captures), self.distortion)


@dataclass(frozen=True)
class FingerprintResult:
    """The 1:1 match on the device: what CardVerify carries (never a template)."""

    matched: bool
    score: int
    finger: int
    attempts: int


@dataclass(frozen=True)
class FieldCheck:
    """One chip field against the population record."""

    field: str
    outcome: str            # MATCH, NO_MATCH, NOT_PROVIDED
    score: int
    threshold: int


@dataclass(frozen=True)
class CardCheck:
    """nikgate's answer to one readout. `verdict` is one word (VERIFIED, CARD_REPLACED,
    CARD_BLOCKED, DECEASED, DATA_MISMATCH, NOT_FOUND, FINGERPRINT_NOT_MATCHED,
    DOCUMENT_SIGNATURE_INVALID); `message` tells the teller what happened and what to do;
    `reply` keeps the exact bytes, so the signed receipt can be checked offline."""

    verdict: str
    message: str
    nik: str
    chip_uid: str
    sam_id: str
    reader_serial: str
    life_status: str | None
    card_status: str | None
    fields: tuple[FieldCheck, ...]
    fingerprint: FingerprintResult
    transaction_id: str
    reply: Reply[card_reader_pb2.CardVerifyResponse] = field(repr=False)

    @property
    def verified(self) -> bool:
        """True only for VERIFIED: current card, living person, chip agrees."""
        return self.verdict == "VERIFIED"

    @property
    def receipt(self):
        """The signed receipt (`nikgate receipt verify` checks it with reply's bytes)."""
        return self.reply.message.receipt


def verdict_name(number: int) -> str:
    """VERIFIED, CARD_REPLACED, ... for a CardVerdict number (UNSPECIFIED if unknown)."""
    try:
        return card_reader_pb2.CardVerdict.Name(number).removeprefix(_VERDICT_PREFIX)
    except ValueError:
        return "UNSPECIFIED"


class CardReaderSession:
    """One reader (card slot and SAM slot) at a teller's desk, talking to nikgate.

    `card_reader` and `sam_reader` are Readers or specs for open_reader ("sim:card.json",
    "pcsc:NAME"). `reader_serial` is the serial Dukcapil bound the SAM to. The session
    holds at most one card at a time; `read_card` starts over with a new card. Methods
    raise the card errors of nikgate.card (CardAuthenticationFailed, DocumentSignature-
    Invalid, CardRemoved, SamSecretWrong, SamLocked, ReaderError, ...), FingerprintNotMatched,
    CardRefused, and for the server calls the nikgate errors (PermissionDenied,
    Unauthenticated, ServiceUnavailable, ...) with the server's message.
    """

    def __init__(self, card_reader: Reader | str, sam_reader: Reader | str, *,
                 reader_serial: str, connection: Connection | None = None,
                 max_attempts: int = MAX_ATTEMPTS, threshold: float = DEFAULT_THRESHOLD,
                 deadline: float = 10.0) -> None:
        if not 1 <= max_attempts <= 10:
            raise errors.InvalidInputError("max_attempts must be 1..10", field="max_attempts")
        if not reader_serial:
            raise errors.InvalidInputError("the reader serial is required (the one the SAM "
                                           "was activated for)", field="reader_serial")
        self.card_reader = open_reader(card_reader) if isinstance(card_reader, str) \
            else card_reader
        self.sam = SamSession(open_reader(sam_reader) if isinstance(sam_reader, str)
                              else sam_reader)
        self.reader_serial = reader_serial
        self.connection = connection
        self.max_attempts = max_attempts
        self.threshold = threshold
        self.deadline = deadline
        self._channel: grpc.Channel | None = None
        self._calls: dict[str, Callable[..., bytes]] = {}
        self.readout: Readout | None = None
        self.fingerprint: FingerprintResult | None = None
        self._refused: str | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> CardReaderSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Forget the card, disconnect the SAM and close the channel. Raises nothing."""
        self._forget()
        try:
            self.sam.close()
        except CardError:
            pass
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def _forget(self) -> None:
        self.readout = None
        self.fingerprint = None
        self._refused = None

    # --- the SAM ------------------------------------------------------------------------

    def unlock(self, secret: str) -> SamInfo:
        """Connect the SAM and unlock it with the reader's secret (read it from a file or
        the environment, never a command line). Raises SamSecretWrong (`tries_left`),
        SamLocked, ReaderError (no SAM in the slot)."""
        self.sam.connect()
        return self.sam.unlock(secret)

    @property
    def sam_id(self) -> str:
        """The SAM's id (from its GET DATA); ReaderError before `unlock`."""
        if self.sam.info is None:
            raise CardRefused("the SAM is not connected: unlock it first")
        return self.sam.info.sam_id

    # --- the card -----------------------------------------------------------------------

    def wait_for_card(self, timeout: float = 30.0, poll: float = 0.1) -> None:
        """Return when a card is on the reader; ReaderError after `timeout` seconds."""
        end = time.monotonic() + timeout
        while not self.card_reader.card_present():
            if time.monotonic() >= end:
                raise ReaderError(f"no card was laid on the reader within {timeout:g} s; "
                                  "ask the citizen to lay the KTP-el flat on the reader")
            time.sleep(poll)

    def read_card(self) -> Readout:
        """Read and check the card through the SAM; all or nothing. A new card starts a
        new check. Raises CardAuthenticationFailed (a clone), DocumentSignatureInvalid
        (altered data), CardRemoved (nothing kept) and the other card errors; none of
        them is sent to nikgate."""
        self._forget()
        if self.sam.info is None:
            raise CardRefused("the SAM is not unlocked: unlock it before reading a card")
        self.readout = read_card(self.card_reader, self.sam)
        return self.readout

    def _need_readout(self) -> Readout:
        if self._refused:
            raise CardRefused(self._refused)
        if self.readout is None:
            raise CardRefused("no card has been read in this session: lay the card on the "
                              "reader and read it first")
        return self.readout

    # --- the finger ---------------------------------------------------------------------

    def match_fingerprint(self, sensor: FingerprintSensor, finger: int = RIGHT_INDEX
                          ) -> FingerprintResult:
        """Match live captures of `finger` against the chip's template, here on the
        device, up to `max_attempts` captures. Returns the match; raises
        FingerprintNotMatched after the last failed attempt (the card is then refused for
        this session; nothing has been sent to nikgate)."""
        readout = self._need_readout()
        if finger not in _FINGER_KEYS:
            raise errors.InvalidInputError("the chip holds the right and left index "
                                           "fingers only", field="finger")
        chip = prepare(decode_template(readout.templates[_FINGER_KEYS[finger]]))
        best = 0.0
        for attempt in range(1, self.max_attempts + 1):
            outcome = verify(sensor.capture(finger), chip, threshold=self.threshold)
            best = max(best, outcome.score)
            if outcome.matched:
                self.fingerprint = FingerprintResult(True, round(outcome.score), finger,
                                                     attempt)
                return self.fingerprint
        self.fingerprint = FingerprintResult(False, round(best), finger, self.max_attempts)
        error = FingerprintNotMatched(self.max_attempts, finger, best,
                                      finger_name=FINGER_NAMES.get(finger, ""))
        self._refused = ("this card was refused in this session: " + str(error))
        raise error

    # --- nikgate ------------------------------------------------------------------------

    def _call(self, name: str, request, response_type):
        if self.connection is None:
            raise CardRefused("this session has no nikgate connection; give one to verify")
        if self._channel is None:
            from nikgate.methods import rpc

            channel = self._channel = self.connection.channel()
            self._calls = {m: channel.unary_unary(rpc("CardReader", m).path, raw, raw)
                           for m in ("GetChallenge", "CardVerify")}
        body = request.SerializeToString()
        with mapped(self.connection.address):
            answer = self._calls[name](body, timeout=self.deadline)
        return Reply(response_type.FromString(answer), answer, body)

    def signed_request(self, *, purpose: str = "", request_id: str = "",
                       _allow_unmatched: bool = False) -> card_reader_pb2.CardVerifyRequest:
        """The CardVerify request for the card read: a fresh challenge from nikgate
        (GetChallenge), the readout digest over reader serial, signature result and
        fingerprint outcome, and the SAM's signature over all of it. Raises CardRefused
        before a read and a match; PermissionDenied when nikgate will not give this SAM on
        this reader a challenge (revoked, inactive, another institution's, another
        reader)."""
        readout = self._need_readout() if not _allow_unmatched else self.readout
        assert readout is not None
        fp = self.fingerprint
        if fp is None or (not fp.matched and not _allow_unmatched):
            raise CardRefused("the finger has not been matched: match the fingerprint "
                              "before asking nikgate")
        challenge = self._call("GetChallenge", card_reader_pb2.ChallengeRequest(
            sam_id=self.sam_id, reader_serial=self.reader_serial),
            card_reader_pb2.Challenge).message.challenge
        digest = digest_of(readout_values(
            reader_serial=self.reader_serial, document_signature_ok=readout.signature_ok,
            matched=fp.matched, score=fp.score, finger=fp.finger, attempts=fp.attempts))
        signature = self.sam.sign_readout(challenge, digest)
        return card_reader_pb2.CardVerifyRequest(
            reader_serial=self.reader_serial, sam_id=self.sam_id, chip_uid=readout.uid,
            biodata=readout.biodata_raw, document_signature_ok=readout.signature_ok,
            fingerprint=card_reader_pb2.FingerprintOutcome(
                matched=fp.matched, score=fp.score, finger=fp.finger,  # type: ignore[arg-type]
                attempts=fp.attempts),
            challenge=challenge, sam_signature=signature, purpose=purpose,
            request_id=request_id)

    def send(self, request: card_reader_pb2.CardVerifyRequest) -> CardCheck:
        """Call CardVerify with a signed request and return nikgate's answer. Raises
        PermissionDenied when the SAM, the reader, the challenge or the signature is not
        accepted (a forged or replayed readout), or the grant does not allow card_verify;
        other nikgate errors as the server answers them."""
        reply = self._call("CardVerify", request, card_reader_pb2.CardVerifyResponse)
        m = reply.message
        fp = request.fingerprint
        from nikgate import codes

        return CardCheck(
            verdict=verdict_name(m.verdict), message=m.message, nik=m.nik,
            chip_uid=(m.chip_uid or request.chip_uid).hex().upper(),
            sam_id=m.sam_id or request.sam_id, reader_serial=request.reader_serial,
            life_status=codes.life_status_name(m.life_status),
            card_status=codes.card_status_name(m.card_status),
            fields=tuple(FieldCheck(f.field, _outcome(f.outcome), f.score, f.threshold)
                         for f in m.fields),
            fingerprint=FingerprintResult(fp.matched, fp.score, int(fp.finger), fp.attempts),
            transaction_id=m.transaction_id, reply=reply)

    def verify(self, *, purpose: str = "", request_id: str = "") -> CardCheck:
        """Ask nikgate about the card read and the finger matched: `signed_request` then
        `send`. A verdict other than VERIFIED is a result; see both for what raises."""
        return self.send(self.signed_request(purpose=purpose, request_id=request_id))

    def check(self, sensor: FingerprintSensor, *, finger: int = RIGHT_INDEX,
              purpose: str = "", request_id: str = "",
              report_refusal: bool = False) -> CardCheck:
        """Read the card on the reader, match the finger, ask nikgate: the whole check.

        With `report_refusal`, a finger that fails every attempt is still reported to
        nikgate (signed, matched=false) so the refusal is audited; FingerprintNotMatched
        is raised either way, saying whether anything was sent."""
        self.read_card()
        try:
            self.match_fingerprint(sensor, finger)
        except FingerprintNotMatched as e:
            if not report_refusal:
                raise
            self.report_refusal(e, purpose=purpose, request_id=request_id)
        return self.verify(purpose=purpose, request_id=request_id)

    def report_refusal(self, error: FingerprintNotMatched, *, purpose: str = "",
                       request_id: str = "") -> None:
        """Report a finger that failed every attempt to nikgate (a signed readout with
        matched=false, so the refusal is audited), then raise `error` again with `sent`
        and the server's answer. The card stays refused for this session."""
        if self.fingerprint is None or self.fingerprint.matched or self.readout is None:
            raise CardRefused("there is no failed fingerprint match to report")
        result = self.send(self.signed_request(purpose=purpose, request_id=request_id,
                                               _allow_unmatched=True))
        raise FingerprintNotMatched(error.attempts, error.finger, error.best_score,
                                    finger_name=error.finger_name, sent=True,
                                    result=result) from None


def _outcome(number: int) -> str:
    from nikgate.v1 import common_pb2

    try:
        return common_pb2.Outcome.Name(number).removeprefix("OUTCOME_")
    except ValueError:
        return "UNSPECIFIED"


# What the teller should do when nikgate itself refuses, by error family.
_SERVER_ADVICE: Sequence[tuple[type[errors.NikgateError], str]] = (
    (errors.PermissionDenied,
     "nikgate refused this reader or readout; do not accept the card on this check. Tell "
     "your supervisor: the SAM may be revoked, not yet activated, bound to another reader "
     "or another institution, or the readout was altered or replayed on this PC"),
    (errors.Unauthenticated,
     "nikgate did not accept this branch's certificate; tell your IT support"),
    (errors.ResourceExhausted, "nikgate is busy or the quota is used up; retry later"),
    (errors.ServiceUnavailable, "nikgate cannot be reached; retry in a moment"),
    (errors.DeadlineExceeded, "nikgate did not answer in time; retry"),
)


def teller_message(error: BaseException) -> str:
    """One paragraph for the teller: what happened and what to do. Card errors already
    say both; for nikgate's refusals the server's reason is followed by the advice."""
    if isinstance(error, CardError):
        return str(error)
    for cls, advice in _SERVER_ADVICE:
        if isinstance(error, cls):
            return f"{error}. {advice}" if str(error) else advice
    return str(error) or type(error).__name__
