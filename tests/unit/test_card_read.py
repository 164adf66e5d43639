"""A whole read through the in-process readers: the good card and each way it can fail."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from nikgate.card import (
    CardAuthenticationFailed,
    CardImage,
    CardRemoved,
    DocumentSignatureInvalid,
    ReaderError,
    Readout,
    SamImage,
    SamSession,
    SimReader,
    digest_of,
    issue_card,
    issue_sam,
    layout,
    open_reader,
    read_card,
    verify_readout_signature,
)
from nikgate.card.chip import ChipEmulator
from nikgate.card.sam import SamEmulator

SECRET = "cabang-0031"
MASTER = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
UID = bytes.fromhex("04112233445566")
RECORD = {"NIK": "3273014107850002", "NAMA_LGKP": "DEWI LESTARI", "TMPT_LHR": "BANDUNG",
          "TGL_LHR": "1985-07-01", "JENIS_KLMIN": "PEREMPUAN", "GOL_DARAH": "A",
          "ALAMAT": "JL. ASIA AFRIKA 8", "NO_RT": "3", "NO_RW": "7", "KEL_NAME": "BRAGA",
          "KEC_NAME": "SUMUR BANDUNG", "KAB_NAME": "KOTA BANDUNG", "PROP_NAME": "JAWA BARAT",
          "AGAMA": "ISLAM", "STATUS_KAWIN": "KAWIN", "JENIS_PKRJN": "KARYAWAN SWASTA",
          "KEWARGANEGARAAN": "WNI", "NO_KK": "3273010101010001"}
TEMPLATES = {"right_index": bytes(range(256)) * 3, "left_index": bytes(range(255, -1, -1)) * 3}


@pytest.fixture(scope="module")
def signer() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def card(signer) -> CardImage:
    return issue_card(RECORD, UID, MASTER, signer, TEMPLATES)


@pytest.fixture(scope="module")
def sam_image(signer) -> SamImage:
    return issue_sam("bank-demo", MASTER, signer.public_key(), SECRET, "SAM-0007")


@pytest.fixture
def sam(sam_image) -> SamSession:
    session = SamSession(SimReader(SamEmulator(SamImage.from_json(sam_image.to_json()))))
    session.unlock(SECRET)
    yield session
    session.close()


def test_a_genuine_card_reads_whole(card, sam):
    readout = read_card(SimReader(ChipEmulator(card)), sam)
    assert readout.signature_ok and readout.uid == UID and readout.sam_id == "SAM-0007"
    for name, value in RECORD.items():
        if name in layout.BIODATA_TAGS:
            assert readout.biodata[name] == value, name
    assert "NO_KK" not in readout.biodata              # not on the chip
    assert readout.biodata["BERLAKU_HINGGA"] == "SEUMUR HIDUP"
    assert dict(readout.templates) == TEMPLATES
    assert readout.photo.startswith(b"\x89PNG") and readout.signature_image.startswith(b"\x89PNG")
    assert layout.encode_biodata(readout.biodata) == readout.biodata_raw   # canonical


@pytest.mark.parametrize("chunk", [1, 17, 221])
def test_any_chunk_size_reads_the_same(card, sam, chunk):
    assert read_card(SimReader(ChipEmulator(card)), sam, chunk=chunk).templates == TEMPLATES


def test_templates_never_print(card, sam):
    readout = read_card(SimReader(ChipEmulator(card)), sam)
    shown = repr(readout) + str(readout.summary())
    assert TEMPLATES["right_index"][:16].hex() not in shown.replace(" ", "")
    assert str(TEMPLATES["right_index"][:8]) not in shown
    assert readout.summary()["templates"] == {"right_index": "768 bytes",
                                              "left_index": "768 bytes"}


def test_a_cloned_card_fails_authentication(card, signer, sam):
    # The cloner copied every file but cannot know the keys derived from the master key.
    clone = issue_card(RECORD, UID, bytes(16), signer, TEMPLATES)
    clone = CardImage(uid=UID, key_version=1, k_enc=clone.k_enc, k_mac=clone.k_mac,
                      files=dict(card.files))
    with pytest.raises(CardAuthenticationFailed, match="not a genuine KTP-el"):
        read_card(SimReader(ChipEmulator(clone)), sam)


def test_files_copied_onto_another_chip_are_refused(card, sam):
    # A blank chip with keys for its own UID (as if made with the master key) holding the
    # copied files: the card-control UID gives it away.
    other = issue_card(RECORD, bytes.fromhex("04999999999999"), MASTER,
                       ec.generate_private_key(ec.SECP256R1()), TEMPLATES)
    copied = CardImage(uid=other.uid, key_version=1, k_enc=other.k_enc, k_mac=other.k_mac,
                       files=dict(card.files))
    with pytest.raises(CardAuthenticationFailed, match="another chip UID"):
        read_card(SimReader(ChipEmulator(copied)), sam)


def test_a_sam_with_another_master_key_cannot_authenticate_the_card(card, signer):
    foreign = issue_sam("bank-demo", bytes(16), signer.public_key(), SECRET, "SAM-X")
    with SamSession(SimReader(SamEmulator(foreign))) as session:
        session.unlock(SECRET)
        with pytest.raises(CardAuthenticationFailed):
            read_card(SimReader(ChipEmulator(card)), session)


@pytest.mark.parametrize("fid, change", [
    (layout.EF_BIODATA, {"NAMA_LGKP": "DEWI LESTARI PUTRI"}),
    (layout.EF_BIODATA, {"TGL_LHR": "1995-07-01"}),
    (layout.EF_RIGHT_INDEX, None),
    (layout.EF_PHOTO, None),
])
def test_altered_chip_data_fail_the_document_signature(card, sam, fid, change):
    if change is not None:
        content = layout.encode_biodata({**layout.decode_biodata(card.files[fid]), **change})
    else:
        content = card.files[fid][:-1] + bytes((card.files[fid][-1] ^ 0xFF,))
    altered = card.with_file(fid, content)
    with pytest.raises(DocumentSignatureInvalid, match="altered"):
        read_card(SimReader(ChipEmulator(altered)), sam)
    with pytest.raises(Exception, match="only after"):
        sam.sign_readout(b"c" * 16, b"d" * 32)


def test_a_card_signed_by_another_document_signer_is_refused(sam):
    forged = issue_card(RECORD, UID, MASTER, ec.generate_private_key(ec.SECP256R1()),
                        TEMPLATES)
    with pytest.raises(DocumentSignatureInvalid):
        read_card(SimReader(ChipEmulator(forged)), sam)


def _apdus_in_a_full_read(card, sam) -> int:
    reader = SimReader(ChipEmulator(card))
    read_card(reader, sam)
    return reader.sent


def test_removal_at_any_point_gives_no_partial_result(card, sam):
    total = _apdus_in_a_full_read(card, sam)
    assert total > 20
    # uid, select DF, card control, challenge, authentication, each file, last chunk
    for n in sorted({0, 1, 2, 4, 5, 6, 7, total // 2, total - 1}):
        result: Readout | None = None
        with pytest.raises(CardRemoved, match="nothing was kept"):
            result = read_card(SimReader(ChipEmulator(card), drop_after=n), sam)
        assert result is None
    # the card comes back: a fresh read works with the same SAM session
    assert read_card(SimReader(ChipEmulator(card)), sam).signature_ok


def test_sam_removed_mid_read(card, sam_image):
    sam_reader = SimReader(SamEmulator(SamImage.from_json(sam_image.to_json())), drop_after=8)
    with SamSession(sam_reader) as session:
        session.unlock(SECRET)
        with pytest.raises(CardRemoved, match="SAM was removed"):
            read_card(SimReader(ChipEmulator(card)), session)


def test_the_readout_signature_binds_challenge_chip_and_request(card, sam):
    readout = read_card(SimReader(ChipEmulator(card)), sam)
    challenge = os.urandom(32)
    request = {"reader_serial": "RDR-01", "fingerprint": {"matched": True, "score": 71}}
    signature = sam.sign_readout(challenge, digest_of(request))
    public = sam.reader.emulator.image.public_key_pem()      # type: ignore[attr-defined]
    good = dict(sam_id="SAM-0007", challenge=challenge, uid=readout.uid,
                biodata_raw=readout.biodata_raw, readout_digest=digest_of(request))
    assert verify_readout_signature(public, signature, **good)
    forged_biodata = layout.encode_biodata({**readout.biodata, "NAMA_LGKP": "SOMEONE ELSE"})
    for change in (dict(challenge=os.urandom(32)), dict(uid=b"\x04" * 7),
                   dict(biodata_raw=forged_biodata), dict(sam_id="SAM-0008"),
                   dict(readout_digest=digest_of({**request, "fingerprint": {
                       "matched": True, "score": 99}}))):
        assert not verify_readout_signature(public, signature, **{**good, **change}), change


def test_card_image_round_trip_and_sim_reader_from_files(card, sam_image, tmp_path):
    card.save(tmp_path / "card.json")
    sam_image.save(tmp_path / "sam.json")
    assert stat.S_IMODE(os.stat(tmp_path / "card.json").st_mode) == 0o600
    assert CardImage.load(tmp_path / "card.json") == card
    with SamSession(open_reader(f"sim:{tmp_path / 'sam.json'}")) as session:
        session.unlock(SECRET)
        readout = read_card(open_reader(f"sim:{tmp_path / 'card.json'}"), session)
    assert readout.nik == RECORD["NIK"]


@pytest.mark.parametrize("spec", ["card.json", "usb:1", "sim:", "sim:/nonexistent.json"])
def test_bad_reader_specs_say_what_to_use(spec):
    with pytest.raises(ReaderError):
        open_reader(spec)


def test_issue_card_checks_its_input(signer):
    with pytest.raises(ValueError, match="16 digits"):
        issue_card({**RECORD, "NIK": "123"}, UID, MASTER, signer, TEMPLATES)
    with pytest.raises(ValueError, match="left_index"):
        issue_card(RECORD, UID, MASTER, signer, {"right_index": b"x"})
