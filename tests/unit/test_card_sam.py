"""The SAM emulator: locked by a secret with a tries counter that survives restarts."""

from __future__ import annotations

import json
import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from nikgate.card import (
    SamError,
    SamImage,
    SamLocked,
    SamSecretWrong,
    SamSession,
    SimReader,
    apdu,
    issue_sam,
    open_reader,
)
from nikgate.card.apdu import CommandAPDU, ResponseAPDU
from nikgate.card.docsigner import load_document_signer_public_key, load_or_create_document_signer
from nikgate.card.sam import SamEmulator

SECRET = "teller-7731"
MASTER = bytes(range(16))


@pytest.fixture(scope="module")
def signer() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def sam_path(signer, tmp_path):
    path = tmp_path / "sam.json"
    issue_sam("bank-demo", MASTER, signer.public_key(), SECRET, "SAM-0042",
              max_tries=3).save(path)
    return path


def send(sam: SamEmulator, raw: str) -> ResponseAPDU:
    return ResponseAPDU.parse(sam.process(bytes.fromhex(raw.replace(" ", ""))))


def verify(secret: str) -> str:
    data = secret.encode()
    return CommandAPDU(0, 0x20, 0, 0x81, data).to_bytes().hex()


def test_the_sam_file_holds_no_secret_and_is_private(sam_path):
    text = sam_path.read_text()
    assert SECRET not in text
    assert json.loads(text)["secret"]["kdf"] == "scrypt"
    assert stat.S_IMODE(os.stat(sam_path).st_mode) == 0o600


def test_commands_need_the_secret_first(sam_path):
    sam = SamEmulator(SamImage.load(sam_path))
    assert send(sam, "80A80000 06 810100820100").sw == apdu.SW_SECURITY_STATUS
    assert send(sam, "80A2000005 00B0000010").sw == apdu.SW_SECURITY_STATUS
    assert send(sam, "80CA000000").ok                        # its identity is public
    assert send(sam, "00200081").sw == 0x63C3                 # state, no try spent
    assert send(sam, verify(SECRET)).ok
    assert send(sam, "00200081").ok
    assert send(sam, "80A6 0000").sw == apdu.SW_CONDITIONS    # unlocked, no card read yet
    assert send(sam, "80FF0000").sw == apdu.SW_INS_NOT_SUPPORTED
    assert send(sam, "A0CA000000").sw == apdu.SW_CLA_NOT_SUPPORTED
    sam.power_off()
    sam.power_on()
    assert send(sam, "80A6 0000").sw == apdu.SW_SECURITY_STATUS   # locked again


def test_wrong_secrets_count_down_then_block_even_across_restarts(sam_path):
    sam = SamEmulator(SamImage.load(sam_path), store=lambda image: image.save(sam_path))
    assert send(sam, verify("wrong-1")).sw == 0x63C2
    assert send(sam, verify("wrong-2")).sw == 0x63C1
    # The counter is on "EEPROM": a new emulator from the same file remembers it.
    sam = SamEmulator(SamImage.load(sam_path), store=lambda image: image.save(sam_path))
    assert send(sam, "00200081").sw == 0x63C1
    assert send(sam, verify("wrong-3")).sw == apdu.SW_AUTH_BLOCKED
    assert send(sam, verify(SECRET)).sw == apdu.SW_AUTH_BLOCKED       # too late
    assert send(sam, "80A6 0000").sw == apdu.SW_AUTH_BLOCKED
    assert SamImage.load(sam_path).tries_left == 0


def test_a_right_secret_restores_the_counter(sam_path):
    sam = SamEmulator(SamImage.load(sam_path), store=lambda image: image.save(sam_path))
    assert send(sam, verify("wrong")).sw == 0x63C2
    assert send(sam, verify(SECRET)).ok
    assert SamImage.load(sam_path).tries_left == 3


def test_sam_session_reports_tries_then_locked(sam_path):
    session = SamSession(open_reader(f"sim:{sam_path}"))
    info = session.connect()
    assert (info.sam_id, info.institution_id, info.tries_left) == ("SAM-0042", "bank-demo", 3)
    with pytest.raises(SamSecretWrong) as e:
        session.unlock("nope-nope")
    assert e.value.tries_left == 2 and "2 tries left" in str(e.value)
    with pytest.raises(SamSecretWrong) as e:
        session.unlock("nope-nope")
    assert e.value.tries_left == 1 and "1 try left" in str(e.value)
    with pytest.raises(SamLocked):
        session.unlock("nope-nope")
    with pytest.raises(SamLocked):
        session.unlock(SECRET)
    # A new session (the reader restarted) finds it locked without spending anything.
    with SamSession(open_reader(f"sim:{sam_path}")) as again, pytest.raises(SamLocked):
        again.unlock(SECRET)


def test_the_sam_signs_a_readout_only_after_a_verified_card(sam_path):
    with SamSession(open_reader(f"sim:{sam_path}")) as session:
        session.unlock(SECRET)
        with pytest.raises(SamError, match="only after it has read a card"):
            session.sign_readout(b"c" * 16, b"d" * 32)


def test_sam_public_key_for_the_registry(sam_path):
    image = SamImage.load(sam_path)
    assert image.public_key_pem().startswith(b"-----BEGIN PUBLIC KEY-----")
    with SamSession(SimReader(SamEmulator(image))) as session:
        assert session.info is not None and len(session.info.public_key_point) == 65


def test_issue_sam_refuses_weak_settings(signer):
    with pytest.raises(ValueError, match="at least 6"):
        issue_sam("bank-demo", MASTER, signer.public_key(), "123", "SAM-1")
    with pytest.raises(ValueError, match="max_tries"):
        issue_sam("bank-demo", MASTER, signer.public_key(), SECRET, "SAM-1", max_tries=16)


def test_document_signer_key_is_made_once_with_mode_0600(tmp_path):
    key = load_or_create_document_signer(tmp_path / "ca")
    assert stat.S_IMODE(os.stat(tmp_path / "ca" / "document-signer.key").st_mode) == 0o600
    again = load_or_create_document_signer(tmp_path / "ca")
    assert again.private_numbers() == key.private_numbers()
    public = load_document_signer_public_key(tmp_path / "ca")
    assert public.public_numbers() == key.public_key().public_numbers()
