"""The card read through real PC/SC: pcscd, the vsmartcard vpcd driver, pyscard, with the
emulated KTP-el and SAM attached as virtual readers (conftest.py starts all of it)."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from nikgate.card import (
    CardAuthenticationFailed,
    CardImage,
    CardRemoved,
    DocumentSignatureInvalid,
    PcscReader,
    ReaderError,
    SamImage,
    SamLocked,
    SamSecretWrong,
    SamSession,
    digest_of,
    issue_card,
    issue_sam,
    layout,
    open_reader,
    pcsc_readers,
    read_card,
    verify_readout_signature,
)
from nikgate.card.chip import ChipEmulator
from nikgate.card.sam import SamEmulator

SECRET = "outlet-5521"
MASTER = bytes.fromhex("0F1E2D3C4B5A69788796A5B4C3D2E1F0")
RECORD = {"NIK": "3578015203880004", "NAMA_LGKP": "RINA KARTIKA", "TMPT_LHR": "SURABAYA",
          "TGL_LHR": "1988-03-12", "JENIS_KLMIN": "PEREMPUAN", "GOL_DARAH": "B",
          "ALAMAT": "JL. TUNJUNGAN 12", "NO_RT": "4", "NO_RW": "1", "KEL_NAME": "GENTENG",
          "KEC_NAME": "GENTENG", "KAB_NAME": "KOTA SURABAYA", "PROP_NAME": "JAWA TIMUR",
          "AGAMA": "KRISTEN", "STATUS_KAWIN": "BELUM KAWIN", "JENIS_PKRJN": "DOSEN",
          "KEWARGANEGARAAN": "WNI"}
TEMPLATES = {"right_index": os.urandom(700), "left_index": os.urandom(650)}


@pytest.fixture(scope="module")
def signer() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def card(signer) -> CardImage:
    return issue_card(RECORD, bytes.fromhex("04C0FFEE123456"), MASTER, signer, TEMPLATES)


@pytest.fixture
def sam_image(signer) -> SamImage:
    return issue_sam("telco-demo", MASTER, signer.public_key(), SECRET, "SAM-PCSC-1",
                     max_tries=3)


def test_pcscd_lists_both_virtual_readers(pcsc):
    assert set(pcsc.readers) <= set(pcsc_readers())


def test_a_card_reads_through_pcsc_and_the_sam_signs_the_readout(attach, card, sam_image):
    card_reader = attach(ChipEmulator(card), slot=0)
    sam_reader = attach(SamEmulator(sam_image), slot=1)
    with SamSession(open_reader(f"pcsc:{sam_reader}")) as sam:
        sam.unlock(SECRET)
        readout = read_card(open_reader(f"pcsc:{card_reader}"), sam)
        challenge = os.urandom(32)
        digest = digest_of({"reader_serial": "VPCD-1"})
        signature = sam.sign_readout(challenge, digest)
    assert readout.signature_ok and readout.uid == card.uid
    assert {k: readout.biodata[k] for k in RECORD} == RECORD
    assert dict(readout.templates) == TEMPLATES
    assert verify_readout_signature(sam_image.public_key_pem(), signature,
                                    sam_id="SAM-PCSC-1", challenge=challenge,
                                    uid=readout.uid, biodata_raw=readout.biodata_raw,
                                    readout_digest=digest)


def test_a_reader_name_may_be_given_in_part(attach, card):
    attach(ChipEmulator(card), slot=0)
    reader = PcscReader("00 00")
    atr = reader.connect()
    try:
        assert atr[:2] == b"\x3b\x88" and reader.name.endswith("00 00")
        assert reader.transmit(bytes.fromhex("FFCA000000")) == (card.uid, 0x9000)
    finally:
        reader.disconnect()


def test_card_removed_mid_read_through_pcsc(attach, card, sam_image):
    card_reader = attach(ChipEmulator(card), slot=0, drop_after=12)   # inside the SM reads
    sam_reader = attach(SamEmulator(sam_image), slot=1)
    with SamSession(PcscReader(sam_reader)) as sam:
        sam.unlock(SECRET)
        with pytest.raises(CardRemoved, match="nothing was kept"):
            read_card(PcscReader(card_reader), sam)


def test_a_cloned_card_through_pcsc(attach, card, signer, sam_image):
    other = issue_card(RECORD, card.uid, bytes(16), signer, TEMPLATES)
    clone = CardImage(uid=card.uid, key_version=1, k_enc=other.k_enc, k_mac=other.k_mac,
                      files=dict(card.files))
    card_reader = attach(ChipEmulator(clone), slot=0)
    sam_reader = attach(SamEmulator(sam_image), slot=1)
    with SamSession(PcscReader(sam_reader)) as sam:
        sam.unlock(SECRET)
        with pytest.raises(CardAuthenticationFailed):
            read_card(PcscReader(card_reader), sam)


def test_altered_data_through_pcsc(attach, card, sam_image):
    altered = card.with_file(layout.EF_BIODATA, layout.encode_biodata(
        {**layout.decode_biodata(card.files[layout.EF_BIODATA]), "NAMA_LGKP": "RINA K"}))
    card_reader = attach(ChipEmulator(altered), slot=0)
    sam_reader = attach(SamEmulator(sam_image), slot=1)
    with SamSession(PcscReader(sam_reader)) as sam:
        sam.unlock(SECRET)
        with pytest.raises(DocumentSignatureInvalid):
            read_card(PcscReader(card_reader), sam)


def test_wrong_sam_secrets_lock_the_sam_through_pcsc(attach, sam_image):
    sam_reader = attach(SamEmulator(sam_image), slot=1)
    with SamSession(PcscReader(sam_reader)) as sam:
        for left in (2, 1):
            with pytest.raises(SamSecretWrong) as e:
                sam.unlock("not-the-secret")
            assert e.value.tries_left == left
        with pytest.raises(SamLocked):
            sam.unlock("not-the-secret")
        with pytest.raises(SamLocked):
            sam.unlock(SECRET)


def test_an_empty_reader_says_so(pcsc):
    with pytest.raises(ReaderError, match="no card on reader"):
        PcscReader(pcsc.readers[0]).connect()


def test_an_unknown_reader_lists_the_known_ones(pcsc):
    with pytest.raises(ReaderError, match="Virtual PCD 00 00"):
        PcscReader("Hardware Reader 9").connect()
