"""The teller's card session (nikgate.clients.cardreader) against in-process emulators and a
fake nikgate that checks the SAM's signature as the server does (no sockets)."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from nikgate import errors
from nikgate.card import (
    CardAuthenticationFailed,
    CardImage,
    CardRemoved,
    DocumentSignatureInvalid,
    SamLocked,
    SamSecretWrong,
    SimReader,
    digest_of,
    issue_card,
    issue_sam,
    layout,
    readout_values,
    verify_readout_signature,
)
from nikgate.card.chip import ChipEmulator
from nikgate.card.sam import SamEmulator
from nikgate.clients.cardreader import (
    CardReaderSession,
    CardRefused,
    FingerprintNotMatched,
    SyntheticSensor,
    teller_message,
    verdict_name,
)
from nikgate.clients.requests import Reply
from nikgate.fingerprint import LEFT_INDEX, MAX_ATTEMPTS, RIGHT_INDEX, encode_template
from nikgate.fingerprint.synth import finger_template
from nikgate.v1 import card_reader_pb2

SECRET = "teller-desk-7"
MASTER = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
NIK = "3578015203880004"
RECORD = {"NIK": NIK, "NAMA_LGKP": "RINA KARTIKA", "TMPT_LHR": "SURABAYA",
          "TGL_LHR": "1988-03-12", "JENIS_KLMIN": "PEREMPUAN", "KEWARGANEGARAAN": "WNI"}
SERIAL = "BRANCH-1-R1"


@pytest.fixture(scope="module")
def signer() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def card(signer) -> CardImage:
    fingers = {"right_index": encode_template(finger_template(NIK, RIGHT_INDEX)),
               "left_index": encode_template(finger_template(NIK, LEFT_INDEX))}
    return issue_card(RECORD, bytes.fromhex("04AABBCCDDEEFF"), MASTER, signer, fingers)


@pytest.fixture
def sam(signer):
    return issue_sam("bank-a", MASTER, signer.public_key(), SECRET, "SAM-U1", max_tries=3)


class FakeNikgate:
    """GetChallenge and CardVerify as the contract says: single-use challenges, the SAM's
    signature checked over the readout digest the server rebuilds from the request."""

    def __init__(self, sam_image) -> None:
        self.sam = sam_image
        self.issued: set[bytes] = set()
        self.calls: list[str] = []
        self.requests: list[card_reader_pb2.CardVerifyRequest] = []

    def __call__(self, name, request, response_type):
        self.calls.append(name)
        if name == "GetChallenge":
            assert request.sam_id == self.sam.sam_id and request.reader_serial == SERIAL
            challenge = os.urandom(32)
            self.issued.add(challenge)
            answer = card_reader_pb2.Challenge(challenge=challenge, valid_seconds=60)
        else:
            self.requests.append(request)
            fp = request.fingerprint
            digest = digest_of(readout_values(
                reader_serial=request.reader_serial,
                document_signature_ok=request.document_signature_ok, matched=fp.matched,
                score=fp.score, finger=fp.finger, attempts=fp.attempts))
            if request.challenge not in self.issued or not verify_readout_signature(
                    self.sam.public_key_pem(), request.sam_signature, sam_id=request.sam_id,
                    challenge=request.challenge, uid=request.chip_uid,
                    biodata_raw=request.biodata, readout_digest=digest):
                raise errors.PermissionDenied("the readout's SAM signature does not verify")
            self.issued.discard(request.challenge)
            verdict = (card_reader_pb2.CARD_VERDICT_VERIFIED if fp.matched
                       else card_reader_pb2.CARD_VERDICT_FINGERPRINT_NOT_MATCHED)
            answer = card_reader_pb2.CardVerifyResponse(
                transaction_id="tx-1", verdict=verdict, message="ok", nik=NIK,
                sam_id=request.sam_id, chip_uid=request.chip_uid)
        raw = answer.SerializeToString()
        return Reply(response_type.FromString(raw), raw, request.SerializeToString())


def session_for(card_image, sam_image, *, drop_after=None, **kw):
    s = CardReaderSession(SimReader(ChipEmulator(card_image), drop_after=drop_after),
                          SimReader(SamEmulator(sam_image)), reader_serial=SERIAL, **kw)
    fake = FakeNikgate(sam_image)
    s._call = fake        # type: ignore[method-assign]
    return s, fake


def test_a_genuine_card_and_finger_are_verified(card, sam):
    s, fake = session_for(card, sam)
    s.unlock(SECRET)
    check = s.check(SyntheticSensor(NIK, seed=1))
    assert check.verified and check.verdict == "VERIFIED" and check.nik == NIK
    assert fake.calls == ["GetChallenge", "CardVerify"]
    request = fake.requests[0]
    assert request.chip_uid == card.uid and request.biodata == card.files[layout.EF_BIODATA]
    assert request.fingerprint.matched and request.fingerprint.finger == RIGHT_INDEX
    assert 1 <= request.fingerprint.attempts <= MAX_ATTEMPTS
    body = request.SerializeToString()          # the templates never leave the device
    assert card.files[layout.EF_RIGHT_INDEX] not in body
    assert card.files[layout.EF_LEFT_INDEX] not in body


def test_the_left_index_finger_may_be_matched(card, sam):
    s, _ = session_for(card, sam)
    s.unlock(SECRET)
    s.read_card()
    result = s.match_fingerprint(SyntheticSensor(NIK, seed=2), LEFT_INDEX)
    assert result.matched and result.finger == LEFT_INDEX


def test_a_clone_is_refused_before_any_server_call(card, sam, signer):
    other = issue_card(RECORD, card.uid, bytes(16), signer,
                       {k: card.files[v] for k, v in layout.FINGER_EFS.items()})
    clone = CardImage(uid=card.uid, key_version=1, k_enc=other.k_enc, k_mac=other.k_mac,
                      files=dict(card.files))
    s, fake = session_for(clone, sam)
    s.unlock(SECRET)
    with pytest.raises(CardAuthenticationFailed, match="not a genuine KTP-el") as e:
        s.check(SyntheticSensor(NIK))
    assert "do not accept" in teller_message(e.value)
    assert fake.calls == [] and s.readout is None
    with pytest.raises(CardRefused, match="no card has been read"):
        s.verify()


def test_altered_data_are_refused_before_any_server_call(card, sam):
    altered = card.with_file(layout.EF_BIODATA, layout.encode_biodata(
        {**layout.decode_biodata(card.files[layout.EF_BIODATA]), "NAMA_LGKP": "RINA K"}))
    s, fake = session_for(altered, sam)
    s.unlock(SECRET)
    with pytest.raises(DocumentSignatureInvalid, match="altered"):
        s.check(SyntheticSensor(NIK))
    assert fake.calls == []


def test_a_card_removed_mid_read_leaves_nothing(card, sam):
    s, fake = session_for(card, sam, drop_after=12)
    s.unlock(SECRET)
    with pytest.raises(CardRemoved, match="nothing was kept"):
        s.check(SyntheticSensor(NIK))
    assert s.readout is None and fake.calls == []


def test_an_impostor_finger_is_refused_after_the_cap_and_nothing_is_sent(card, sam):
    s, fake = session_for(card, sam)
    s.unlock(SECRET)
    s.read_card()
    sensor = SyntheticSensor(NIK, impostor=True)
    with pytest.raises(FingerprintNotMatched) as e:
        s.match_fingerprint(sensor)
    assert e.value.attempts == MAX_ATTEMPTS == sensor.captures and not e.value.sent
    assert "refused for this session" in str(e.value)
    assert "nothing was sent to nikgate" in str(e.value)
    assert fake.calls == []
    for step in (lambda: s.match_fingerprint(SyntheticSensor(NIK)), s.verify):
        with pytest.raises(CardRefused, match="refused in this session"):
            step()


def test_the_cap_is_configurable_and_a_late_genuine_capture_counts(card, sam):
    s, _ = session_for(card, sam, max_attempts=2)
    s.unlock(SECRET)
    s.read_card()
    with pytest.raises(FingerprintNotMatched) as e:
        s.match_fingerprint(SyntheticSensor(NIK, impostor=True))
    assert e.value.attempts == 2
    s.read_card()                                  # a new read starts a new check
    result = s.match_fingerprint(SyntheticSensor(NIK, genuine_from=2))
    assert result.matched and result.attempts == 2


def test_a_refusal_can_be_reported_and_says_so(card, sam):
    s, fake = session_for(card, sam)
    s.unlock(SECRET)
    with pytest.raises(FingerprintNotMatched) as e:
        s.check(SyntheticSensor(NIK, impostor=True), report_refusal=True)
    assert e.value.sent and e.value.result is not None
    assert e.value.result.verdict == "FINGERPRINT_NOT_MATCHED"
    assert "recorded by nikgate (transaction tx-1)" in str(e.value)
    assert not fake.requests[0].fingerprint.matched
    assert fake.requests[0].fingerprint.attempts == MAX_ATTEMPTS


def test_a_request_altered_after_signing_is_refused(card, sam):
    s, fake = session_for(card, sam)
    s.unlock(SECRET)
    s.read_card()
    s.match_fingerprint(SyntheticSensor(NIK, seed=3))
    request = s.signed_request()
    request.fingerprint.score = 99
    with pytest.raises(errors.PermissionDenied) as e:
        s.send(request)
    assert "supervisor" in teller_message(e.value)


def test_nothing_is_asked_before_the_finger_matched(card, sam):
    s, fake = session_for(card, sam)
    s.unlock(SECRET)
    s.read_card()
    with pytest.raises(CardRefused, match="match the fingerprint"):
        s.verify()
    assert fake.calls == []


def test_wrong_sam_secrets_count_down_and_lock(card, sam):
    s, _ = session_for(card, sam)
    for left in (2, 1):
        with pytest.raises(SamSecretWrong) as e:
            s.unlock("not-the-secret")
        assert e.value.tries_left == left and f"{left} tr" in teller_message(e.value)
    with pytest.raises(SamLocked, match="Dukcapil"):
        s.unlock("not-the-secret")
    with pytest.raises(SamLocked):
        s.unlock(SECRET)


def test_reading_needs_an_unlocked_sam(card, sam):
    s, _ = session_for(card, sam)
    with pytest.raises(CardRefused, match="unlock"):
        s.read_card()


def test_verdict_names_and_the_synthetic_sensor_is_deterministic():
    assert verdict_name(card_reader_pb2.CARD_VERDICT_CARD_REPLACED) == "CARD_REPLACED"
    assert verdict_name(999) == "UNSPECIFIED"
    a, b = SyntheticSensor(NIK, seed=5), SyntheticSensor(NIK, seed=5)
    assert a.capture(RIGHT_INDEX) == b.capture(RIGHT_INDEX)
    assert a.capture(RIGHT_INDEX) != SyntheticSensor(NIK, seed=5).capture(LEFT_INDEX)
