"""The KTP-el chip emulator answers APDUs with the status words a real chip gives."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from nikgate.card import apdu, layout
from nikgate.card.apdu import CommandAPDU, ResponseAPDU
from nikgate.card.chip import ChipEmulator
from nikgate.card.crypto import (
    auth_cryptogram,
    card_keys,
    open_auth_cryptogram,
    session_keys,
)
from nikgate.card.images import CardImage, issue_card
from nikgate.card.sm import SmChannel

MASTER = bytes(range(16))
UID = bytes.fromhex("04A1B2C3D4E5F6")
RECORD = {"NIK": "3201014507900001", "NAMA_LGKP": "SITI AMINAH", "TMPT_LHR": "BANDUNG",
          "TGL_LHR": "1990-07-05", "JENIS_KLMIN": "PEREMPUAN", "GOL_DARAH": "O",
          "ALAMAT": "JL. MERDEKA NO. 1", "NO_RT": "1", "NO_RW": "2",
          "KEL_NAME": "CIKOLE", "KEC_NAME": "LEMBANG", "KAB_NAME": "BANDUNG BARAT",
          "PROP_NAME": "JAWA BARAT", "AGAMA": "ISLAM", "STATUS_KAWIN": "KAWIN",
          "JENIS_PKRJN": "GURU", "KEWARGANEGARAAN": "WNI"}
TEMPLATES = {"right_index": b"\x01R" * 300, "left_index": b"\x02L" * 300}


@pytest.fixture(scope="module")
def image() -> CardImage:
    signer = ec.generate_private_key(ec.SECP256R1())
    return issue_card(RECORD, UID, MASTER, signer, TEMPLATES, issued=dt.date(2024, 1, 2))


@pytest.fixture
def chip(image) -> ChipEmulator:
    return ChipEmulator(image)


def send(chip: ChipEmulator, cmd: CommandAPDU | str) -> ResponseAPDU:
    raw = bytes.fromhex(cmd.replace(" ", "")) if isinstance(cmd, str) else cmd.to_bytes()
    return ResponseAPDU.parse(chip.process(raw))


def select(fid: int, p1: int = 0, p2: int = 0x0C) -> CommandAPDU:
    return CommandAPDU(0, apdu.INS_SELECT, p1, p2, fid.to_bytes(2, "big"),
                       0 if p2 == 0x0C else 256)


def authenticate(chip: ChipEmulator, master: bytes = MASTER) -> SmChannel | None:
    """Mutual authentication as a SAM with `master` would run it; the host's SM end."""
    rnd_ic = send(chip, "0084000008").data
    k_enc, k_mac = card_keys(master, chip.uid, 1)
    rnd_ifd, k_ifd = secrets.token_bytes(8), secrets.token_bytes(16)
    resp = send(chip, CommandAPDU(0, 0x82, 0, 0, auth_cryptogram(k_enc, k_mac,
                                                                rnd_ifd + rnd_ic + k_ifd), 40))
    if not resp.ok:
        return None
    plain = open_auth_cryptogram(k_enc, k_mac, resp.data)
    assert plain is not None and plain[:8] == rnd_ic and plain[8:16] == rnd_ifd
    return SmChannel(*session_keys(k_ifd, plain[16:], rnd_ic, rnd_ifd))


def test_uid_answers_the_pcsc_get_data(chip):
    assert send(chip, "FFCA000000") == ResponseAPDU(UID, apdu.SW_OK)


def test_select_walks_the_file_system(chip):
    assert send(chip, select(layout.EF_BIODATA, p1=2)).sw == apdu.SW_FILE_NOT_FOUND
    assert send(chip, select(0x7F0B)).sw == apdu.SW_FILE_NOT_FOUND
    assert send(chip, select(layout.DF_KTP)).ok
    resp = send(chip, select(layout.EF_PHOTO, p1=2, p2=0x04))
    fcp = resp.data
    assert resp.ok and fcp[0] == 0x62
    assert int.from_bytes(fcp[fcp.index(0x80) + 2:][:2], "big") == \
        len(chip.image.files[layout.EF_PHOTO])
    assert send(chip, select(0x6FF9, p1=2)).sw == apdu.SW_FILE_NOT_FOUND
    assert send(chip, CommandAPDU(0, 0xA4, 0x08, 0x0C, b"\x7f\x0a")).sw == \
        apdu.SW_INCORRECT_P1P2
    assert send(chip, CommandAPDU(0, 0xA4, 0, 0x0C, b"\x7f")).sw == apdu.SW_WRONG_LENGTH


def test_card_control_reads_in_plain_in_chunks(chip, image):
    send(chip, select(layout.DF_KTP))
    send(chip, select(layout.EF_CARD_CONTROL, p1=2))
    first = send(chip, CommandAPDU(0, 0xB0, 0, 0, le=10))
    rest = send(chip, CommandAPDU(0, 0xB0, 0, 10, le=200))
    assert first.ok and rest.sw == apdu.SW_END_OF_FILE
    content = first.data + rest.data
    assert content == image.files[layout.EF_CARD_CONTROL]
    control = layout.decode_card_control(content)
    assert control.uid == UID and control.key_version == 1 and control.issued == "2024-01-02"
    # Extended Le: the whole file in one APDU.
    assert send(chip, CommandAPDU(0, 0xB0, 0, 0, le=1000)).data == content
    assert send(chip, CommandAPDU(0, 0xB0, 0, len(content) + 1, le=1)).sw == apdu.SW_WRONG_P1P2
    assert send(chip, "00B00000").sw == apdu.SW_WRONG_LENGTH          # no Le
    assert send(chip, "00B0850001").sw == apdu.SW_FUNC_NOT_SUPPORTED  # short EF id


@pytest.mark.parametrize("fid", layout.PROTECTED_EFS)
def test_protected_files_refuse_a_plain_read(chip, fid):
    send(chip, select(layout.DF_KTP))
    assert send(chip, select(fid, p1=2)).ok
    assert send(chip, CommandAPDU(0, 0xB0, 0, 0, le=16)).sw == apdu.SW_SECURITY_STATUS


def test_read_binary_without_a_current_file(chip):
    assert send(chip, CommandAPDU(0, 0xB0, 0, 0, le=16)).sw == 0x6986


@pytest.mark.parametrize("raw, sw", [
    ("0084000004", apdu.SW_WRONG_LENGTH),        # GET CHALLENGE answers 8 bytes only
    ("0084010008", apdu.SW_WRONG_P1P2),
    ("00CA000000", apdu.SW_INS_NOT_SUPPORTED),
    ("0020008106313233343536", apdu.SW_INS_NOT_SUPPORTED),
    ("A0A4000C027F0A", apdu.SW_CLA_NOT_SUPPORTED),
    ("0CB0000000", apdu.SW_SM_INCORRECT),        # SM without a session
    ("00A4", apdu.SW_WRONG_LENGTH),              # not an APDU
    ("00820000" + "28" + "00" * 40 + "28", apdu.SW_CONDITIONS),   # no challenge yet
    ("00820000" + "10" + "00" * 16 + "28", apdu.SW_WRONG_LENGTH),
])
def test_status_words(chip, raw, sw):
    send(chip, select(layout.DF_KTP))
    assert send(chip, raw).sw == sw


def test_authentication_with_the_wrong_keys_fails_with_6300(chip):
    send(chip, select(layout.DF_KTP))
    assert authenticate(chip, master=bytes(16)) is None
    assert not chip.authenticated
    # the challenge is spent: repeating the answer without a new one is refused
    assert send(chip, CommandAPDU(0, 0x82, 0, 0, bytes(40), 40)).sw == apdu.SW_CONDITIONS


def test_secure_messaging_reads_protected_files(chip, image):
    send(chip, select(layout.DF_KTP))
    sm = authenticate(chip)
    assert sm is not None and chip.authenticated

    def secure(cmd: CommandAPDU) -> ResponseAPDU:
        return sm.unprotect_response(send(chip, sm.protect_command(cmd)))

    assert secure(select(layout.EF_BIODATA, p1=2)).ok
    data = b""
    while True:
        resp = secure(CommandAPDU(0, 0xB0, len(data) >> 8, len(data) & 0xFF, le=64))
        data += resp.data
        if resp.sw == apdu.SW_END_OF_FILE or not resp.data:
            break
    assert data == image.files[layout.EF_BIODATA]
    assert layout.decode_biodata(data)["NAMA_LGKP"] == "SITI AMINAH"
    assert secure(select(0x6FF9, p1=2)).sw == apdu.SW_FILE_NOT_FOUND   # statuses go under SM


def test_a_bad_mac_or_a_plain_command_ends_the_session(chip):
    send(chip, select(layout.DF_KTP))
    sm = authenticate(chip)
    assert sm is not None
    protected = sm.protect_command(select(layout.EF_BIODATA, p1=2))
    tampered = CommandAPDU(protected.cla, protected.ins, protected.p1, protected.p2,
                           protected.data[:-1] + bytes((protected.data[-1] ^ 1,)), 256)
    assert send(chip, tampered) == ResponseAPDU.status(apdu.SW_SM_INCORRECT)
    assert not chip.authenticated

    sm = authenticate(chip)
    assert sm is not None
    send(chip, select(layout.EF_BIODATA, p1=2))             # plain: ends SM
    assert not chip.authenticated
    assert send(chip, CommandAPDU(0, 0xB0, 0, 0, le=16)).sw == apdu.SW_SECURITY_STATUS


def test_power_cycle_forgets_the_session(chip):
    send(chip, select(layout.DF_KTP))
    assert authenticate(chip) is not None
    chip.power_off()
    chip.power_on()
    assert not chip.authenticated
    assert send(chip, select(layout.EF_CARD_CONTROL, p1=2)).sw == apdu.SW_FILE_NOT_FOUND
