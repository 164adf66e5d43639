"""nikgate.v1.CardReader: GetChallenge and CardVerify, the card-reader channel.

CardVerify's checks, in this order (the guard has checked identity and sizes before):
1. the request's form (SAM id, reader serial, chip UID, challenge, fingerprint outcome);
2. the grant allows operation `card_verify` on channel `card_reader` (active, in term,
   network, purpose; nothing counted yet);
3. the SAM is registered to the caller's institution, active, and bound to this reader;
4. the challenge was issued for this SAM and reader, is unexpired, and is used up now;
5. the SAM's signature over (SAM id, challenge, chip UID, SHA-256(biodata), readout digest)
   is valid, the readout digest rebuilt here from the request (nikgate.card.readout).
Any of 2-5 failing is PERMISSION_DENIED, audited with the SAM and reader. Then the answer:
the device's own findings first (document signature, fingerprint: no person data is
looked at), then the chip's NIK against the record: not found, card replaced or blocked,
deceased, fields that differ, or verified. The grant's card_verify fields limit which of
the chip's fields are compared, and one NIK is counted against the quota.
"""

from __future__ import annotations

from nikgate import codes
from nikgate.card import layout
from nikgate.card.readout import digest_of, readout_values, verify_readout_signature
from nikgate.engine.constants import ItemStatus, Outcome
from nikgate.engine.nik import check_nik
from nikgate.engine.schema import VERIFIABLE
from nikgate.errors import InvalidInputError, PermissionDenied
from nikgate.v1 import card_reader_pb2 as pb
from nikgate.v1 import verification_pb2

from ..access.checks import Access
from ..access.policy import check_purpose
from ..access.sams import CHALLENGE_BYTES, SamRegistry, validate_reader_serial, validate_sam_id
from ..audit.entry import CardReaderAudit
from ..calls import Call
from ..index_holder import ServingIndex

SERVICE = "nikgate.v1.CardReader"
CHANNEL = "card_reader"
OPERATION = "card_verify"
MAX_ATTEMPTS = 15           # the device's cap is configurable (default 4); no more than this
_FINGERS = frozenset(v.number for v in pb.Finger.DESCRIPTOR.values) - {0}
# The chip's fields a verification can compare, in the chip's order (not NIK: it is the key;
# not the region names, the card's validity or issue date: the record holds no such claim).
_VERIFIABLE = frozenset(f.name for f in VERIFIABLE)
CHIP_FIELDS = tuple(f for f in layout.BIODATA_FIELDS if f in _VERIFIABLE)

V = pb.CardVerdict
MESSAGES = {
    V.CARD_VERDICT_VERIFIED:
        "KTP-el verified: the card is the current one, the record shows the holder alive, "
        "and the chip agrees with the population record",
    V.CARD_VERDICT_CARD_REPLACED:
        "this KTP-el was replaced by a newer card (status DIGANTI): do not accept it; ask "
        "for the holder's current KTP-el",
    V.CARD_VERDICT_CARD_BLOCKED:
        "this KTP-el is blocked (status DIBLOKIR): do not accept it; refer the holder to "
        "Disdukcapil",
    V.CARD_VERDICT_DECEASED:
        "the population record says the person with this NIK has died: do not proceed; "
        "refer the case to your supervisor and Disdukcapil",
    V.CARD_VERDICT_DATA_MISMATCH:
        "the chip's data differ from the population record ({fields}): the record changed "
        "after the card was issued; do not proceed on this card; ask the holder to update "
        "the KTP-el at Disdukcapil",
    V.CARD_VERDICT_NOT_FOUND:
        "the NIK on this card is not in the population database: do not accept the card; "
        "refer the holder to Disdukcapil",
    V.CARD_VERDICT_FINGERPRINT_NOT_MATCHED:
        "the finger did not match the card ({attempts} attempt(s)): the person may not be "
        "the card's holder; do not proceed on this card",
    V.CARD_VERDICT_DOCUMENT_SIGNATURE_INVALID:
        "the chip's data are not signed by Dukcapil: the card was altered; do not accept "
        "it, keep it if your procedure says so, and report it",
}


class CardReaderHandlers:
    def __init__(self, index: ServingIndex, access: Access, registry: SamRegistry) -> None:
        self.index = index   # one generation per call: acquire() (server/index_holder.py)
        self.access = access
        self.registry = registry

    async def get_challenge(self, req: pb.ChallengeRequest, call: Call) -> pb.Challenge:
        _names(req.sam_id, req.reader_serial)
        call.card = CardReaderAudit(req.sam_id, req.reader_serial)
        self._gate(call, req.sam_id, req.reader_serial, "")
        challenge = self.registry.issue_challenge(call.institution, req.sam_id,
                                                  req.reader_serial)
        return pb.Challenge(challenge=challenge, valid_seconds=round(self.registry.lifetime),
                            transaction_id=call.tx)

    async def card_verify(self, req: pb.CardVerifyRequest, call: Call) -> pb.CardVerifyResponse:
        _names(req.sam_id, req.reader_serial)
        call.card = CardReaderAudit(req.sam_id, req.reader_serial)
        fp = _fingerprint(req)
        call.card = CardReaderAudit(req.sam_id, req.reader_serial, fp.matched, fp.score,
                                    fp.finger, fp.attempts)
        _readout_form(req)
        sam = self._gate(call, req.sam_id, req.reader_serial, req.purpose)
        self.registry.consume_challenge(call.institution, req.sam_id, req.reader_serial,
                                        req.challenge)
        digest = digest_of(readout_values(
            reader_serial=req.reader_serial, document_signature_ok=req.document_signature_ok,
            matched=fp.matched, score=fp.score, finger=fp.finger, attempts=fp.attempts))
        if not _signed(sam.public_key_pem.encode(), req, digest):
            raise PermissionDenied(
                f"the readout is not signed by SAM {req.sam_id} (its signature does not match "
                "the request): it was altered or forged on the way and is refused; read the "
                "card again, and if this repeats report the reader's PC to your IT security")

        answer = pb.CardVerifyResponse(transaction_id=call.tx, request_id=req.request_id,
                                       sam_id=req.sam_id, chip_uid=req.chip_uid)
        # The device's findings: refused before any person's data is looked at.
        if not req.document_signature_ok:
            return _verdict(answer, V.CARD_VERDICT_DOCUMENT_SIGNATURE_INVALID)
        if not fp.matched:
            return _verdict(answer, V.CARD_VERDICT_FINGERPRINT_NOT_MATCHED,
                            attempts=fp.attempts)

        try:
            chip = layout.decode_biodata(req.biodata)
        except layout.LayoutError as e:
            raise InvalidInputError(f"biodata is not an EF 6FF1 biodata TLV ({e}); send the "
                                    "file exactly as read", field="biodata") from None
        nik = chip["NIK"]
        check_nik(nik)   # the NIK's fault, as the engine words it
        call.niks, call.items = (nik,), 1
        granted = self._granted_fields(call)
        claims = {name: chip[name] for name in CHIP_FIELDS if name in granted and chip[name]}
        self.access.check(call, OPERATION, tuple(claims), 1, req.purpose)   # counts 1 NIK
        with self.index.acquire() as index:
            result = index.verify(nik, claims)
        call.fields_returned = tuple(r.field.name for r in result.fields)
        call.item_results = bytes((int(result.status),))
        self.access.observe(call)

        answer.nik = nik
        answer.status = codes.ITEM_STATUS[result.status]
        answer.fields.extend(verification_pb2.FieldResult(
            field=r.field.name, outcome=codes.OUTCOME[r.outcome], score=r.score,
            threshold=r.threshold) for r in result.fields)
        answer.life_status = codes.life_status_number(result.life_status)
        answer.card_status = codes.card_status_number(result.card_status)
        if result.status == ItemStatus.NOT_FOUND:
            return _verdict(answer, V.CARD_VERDICT_NOT_FOUND)
        if result.card_status == "DIGANTI":
            return _verdict(answer, V.CARD_VERDICT_CARD_REPLACED)
        if result.card_status == "DIBLOKIR":
            return _verdict(answer, V.CARD_VERDICT_CARD_BLOCKED)
        if result.life_status == "MATI":
            return _verdict(answer, V.CARD_VERDICT_DECEASED)
        differ = [r.field.name for r in result.fields if r.outcome == Outcome.NO_MATCH]
        if differ:
            return _verdict(answer, V.CARD_VERDICT_DATA_MISMATCH, fields=", ".join(differ))
        return _verdict(answer, V.CARD_VERDICT_VERIFIED)

    def _gate(self, call: Call, sam_id: str, reader_serial: str, purpose: str):
        """Steps 2 and 3: the grant allows card_verify on this channel (counting nothing),
        then the SAM is the caller's, active and bound to this reader."""
        call.operation = OPERATION
        grant = self.access.authorize_unmetered(call, OPERATION, 1)
        if self.access.enforce:
            # the unmetered check lets a suspended grant deliver return data; not this
            if grant.status != "active":
                why = f" ({grant.status_reason})" if grant.status_reason else ""
                raise PermissionDenied(f"the grant of {call.institution} is "
                                       f"{grant.status}{why}")
            call.purpose = check_purpose(grant, purpose)
        return self.registry.for_call(call.institution, sam_id, reader_serial)

    def _granted_fields(self, call: Call) -> frozenset[str]:
        if not self.access.enforce:
            return _VERIFIABLE
        grant = self.access.policy.grant(call.institution)
        return frozenset(grant.fields.get(OPERATION, ()) if grant is not None else ())


def _names(sam_id: str, reader_serial: str) -> None:
    # checked before either reaches the audit record: ids of a known form, never free text
    validate_sam_id(sam_id)
    validate_reader_serial(reader_serial)


def _fingerprint(req: pb.CardVerifyRequest) -> pb.FingerprintOutcome:
    if not req.HasField("fingerprint"):
        raise InvalidInputError("fingerprint is required: the outcome of the 1:1 match on "
                                "the device (matched, score, finger, attempts)",
                                field="fingerprint")
    fp = req.fingerprint
    if fp.score > 100:
        raise InvalidInputError(f"fingerprint.score is 0-100, got {fp.score}",
                                field="fingerprint")
    if not 1 <= fp.attempts <= MAX_ATTEMPTS:
        raise InvalidInputError(f"fingerprint.attempts is 1-{MAX_ATTEMPTS}, got {fp.attempts}",
                                field="fingerprint")
    if fp.finger not in _FINGERS and (fp.matched or fp.finger != 0):
        raise InvalidInputError("fingerprint.finger must be FINGER_RIGHT_INDEX or "
                                "FINGER_LEFT_INDEX (the chip holds those two)",
                                field="fingerprint")
    return fp


def _readout_form(req: pb.CardVerifyRequest) -> None:
    if not 4 <= len(req.chip_uid) <= 10:
        raise InvalidInputError(f"chip_uid is 4, 7 or 10 bytes (the chip's ISO 14443 UID); "
                                f"got {len(req.chip_uid)}", field="chip_uid")
    if len(req.challenge) != CHALLENGE_BYTES:
        raise InvalidInputError(f"challenge must be the {CHALLENGE_BYTES} bytes GetChallenge "
                                f"gave; got {len(req.challenge)}", field="challenge")
    if not req.sam_signature:
        raise InvalidInputError("sam_signature is empty: the SAM signs the readout (SIGN "
                                "READOUT)", field="sam_signature")
    if not req.biodata:
        raise InvalidInputError("biodata is empty: send EF 6FF1 exactly as read",
                                field="biodata")


def _signed(public_key_pem: bytes, req: pb.CardVerifyRequest, digest: bytes) -> bool:
    try:
        return verify_readout_signature(
            public_key_pem, req.sam_signature, sam_id=req.sam_id, challenge=req.challenge,
            uid=req.chip_uid, biodata_raw=req.biodata, readout_digest=digest)
    except (ValueError, TypeError):   # a signature that is not DER at all
        return False


def _verdict(answer: pb.CardVerifyResponse, verdict: int, **values: object
             ) -> pb.CardVerifyResponse:
    answer.verdict = verdict  # type: ignore[assignment]
    answer.message = MESSAGES[verdict].format(**values)  # type: ignore[index]
    return answer
