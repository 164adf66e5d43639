"""CardVerify and GetChallenge against the real in-process server: cards read through the
emulated SAM and chip (SimReader), readouts signed by the SAM, every verdict and every
refusal, with the audit records and the receipt checked.

Cards are issued from records of the session index; each institution here has its own
client certificate from the session CA and a card_verify grant on channel card_reader."""

from __future__ import annotations

import json
from dataclasses import dataclass

import grpc
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from nikgate import methods
from nikgate.card import (
    SamImage,
    SamSession,
    SimReader,
    digest_of,
    issue_card,
    issue_sam,
    layout,
    new_master_key,
    read_card,
    readout_values,
)
from nikgate.card.chip import ChipEmulator
from nikgate.card.readout import biodata_digest, signed_message
from nikgate.card.sam import SamEmulator
from nikgate.server.access.admin import Admin
from nikgate.server.access.grants import FIELD_UNIVERSE, Grant
from nikgate.server.audit.queries import tail
from nikgate.server.pki import ca as pki
from nikgate.server.receipts import verify_receipt
from nikgate.v1 import card_reader_pb2 as pb
from nikgate.v1 import common_pb2

from ..conftest import full_grant

GET_CHALLENGE = methods.rpc("CardReader", "GetChallenge")
CARD_VERIFY = methods.rpc("CardReader", "CardVerify")
SECRET = "cabang-0031"
TEMPLATES = {"right_index": bytes(range(256)) * 2, "left_index": bytes(range(255, -1, -1)) * 2}
CARD_ONLY = ("BERLAKU_HINGGA", "TGL_TERBIT")
V = pb.CardVerdict


@dataclass
class Branch:
    """One institution's teller position: its certificate, SAM and reader."""

    institution: str
    channel: grpc.Channel
    sam: SamImage
    reader: str

    def call(self, rpc, request, **kw):
        """(response message, raw response bytes) or grpc.RpcError."""
        method = self.channel.unary_unary(rpc.path, lambda b: b, lambda b: b)
        raw = method(request.SerializeToString(), timeout=30, **kw)
        return rpc.response.FromString(raw), raw

    def challenge(self, sam_id: str | None = None, reader: str | None = None) -> bytes:
        reply, _ = self.call(GET_CHALLENGE, pb.ChallengeRequest(
            sam_id=sam_id or self.sam.sam_id, reader_serial=reader or self.reader))
        assert reply.valid_seconds == 120 and reply.transaction_id
        return reply.challenge

    def read(self, card):
        """The whole read through the SAM and chip emulators, as the teller's PC runs it."""
        session = SamSession(SimReader(SamEmulator(SamImage.from_json(self.sam.to_json()))))
        session.unlock(SECRET)
        readout = read_card(SimReader(ChipEmulator(card)), session)
        return readout, session

    def request(self, card, *, matched=True, score=57, finger=pb.FINGER_RIGHT_INDEX,
                attempts=1, reader=None, challenge=None, purpose="") -> pb.CardVerifyRequest:
        """A CardVerify request for `card`, signed by this branch's SAM (through APDUs)."""
        reader = reader or self.reader
        readout, session = self.read(card)
        challenge = challenge if challenge is not None else self.challenge(reader=reader)
        digest = digest_of(readout_values(reader_serial=reader, document_signature_ok=True,
                                          matched=matched, score=score, finger=finger,
                                          attempts=attempts))
        signature = session.sign_readout(challenge, digest)
        session.close()
        return pb.CardVerifyRequest(
            reader_serial=reader, sam_id=readout.sam_id, chip_uid=readout.uid,
            biodata=readout.biodata_raw, document_signature_ok=True,
            fingerprint=pb.FingerprintOutcome(matched=matched, score=score, finger=finger,
                                              attempts=attempts),
            challenge=challenge, sam_signature=signature, purpose=purpose)

    def signed_directly(self, request: pb.CardVerifyRequest) -> pb.CardVerifyRequest:
        """`request` re-signed with the SAM's own key, as it stands (what a real SAM would
        never sign: an unverified document, bytes that are not biodata)."""
        fp = request.fingerprint
        digest = digest_of(readout_values(
            reader_serial=request.reader_serial,
            document_signature_ok=request.document_signature_ok, matched=fp.matched,
            score=fp.score, finger=fp.finger, attempts=fp.attempts))
        message = signed_message(sam_id=request.sam_id, challenge=request.challenge,
                                 uid=request.chip_uid,
                                 biodata_digest=biodata_digest(request.biodata),
                                 readout_digest=digest)
        signature = self.sam.signing_key().sign(message, ec.ECDSA(hashes.SHA256()))
        out = pb.CardVerifyRequest()
        out.CopyFrom(request)
        out.sam_signature = signature
        return out


def _creds(certs, issued: pki.Issued) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(certs.ca, issued.key_pem, issued.cert_pem)


def card_grant(institution: str, fields=None, **changes) -> Grant:
    return full_grant(institution, operations=("card_verify",), channels=("card_reader",),
                      fields={"card_verify": tuple(sorted(fields or
                                                          FIELD_UNIVERSE["card_verify"]))},
                      **changes)


@pytest.fixture(scope="module")
def keys():
    return new_master_key(), ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def world(server, certs, keys):
    """Institutions, grants, certificates and SAMs on the session server's control store:
    card-bank (SAM-CB-1 active on RDR-CB-1, SAM-CB-NEW issued only, SAM-CB-OLD revoked),
    card-other (its own SAM, a grant of two fields only), card-noop (card_reader channel,
    no card_verify)."""
    master, signer = keys
    admin = Admin(server.running.store)
    ca = pki.load_ca(certs.pki_dir)
    out = {}
    for ident, grant in (("card-bank", card_grant("card-bank")),
                         ("card-other", card_grant("card-other",
                                                   fields=("NAMA_LGKP", "TGL_LHR"))),
                         ("card-noop", full_grant("card-noop", channels=("card_reader",))),):
        admin.add_institution(ident, ident.title(), "bank")
        admin.set_grant(grant)
        out[ident] = grpc.secure_channel(f"localhost:{server.port}",
                                         _creds(certs, pki.issue_client(ca, ident)))
    sams = {}
    for sam_id, inst in (("SAM-CB-1", "card-bank"), ("SAM-CB-NEW", "card-bank"),
                         ("SAM-CB-OLD", "card-bank"), ("SAM-CO-1", "card-other"),
                         ("SAM-CN-1", "card-noop")):
        sams[sam_id] = issue_sam(inst, master, signer.public_key(), SECRET, sam_id)
        admin.register_sam(sam_id, inst, sams[sam_id].public_key_pem())
    admin.activate_sam("SAM-CB-1", "RDR-CB-1")
    admin.activate_sam("SAM-CB-OLD", "RDR-CB-9")
    admin.revoke_sam("SAM-CB-OLD", "reader stolen")
    admin.activate_sam("SAM-CO-1", "RDR-CO-1")
    admin.activate_sam("SAM-CN-1", "RDR-CN-1")
    yield {
        "bank": Branch("card-bank", out["card-bank"], sams["SAM-CB-1"], "RDR-CB-1"),
        "new": Branch("card-bank", out["card-bank"], sams["SAM-CB-NEW"], "RDR-CB-2"),
        "old": Branch("card-bank", out["card-bank"], sams["SAM-CB-OLD"], "RDR-CB-9"),
        "other": Branch("card-other", out["card-other"], sams["SAM-CO-1"], "RDR-CO-1"),
        "noop": Branch("card-noop", out["card-noop"], sams["SAM-CN-1"], "RDR-CN-1"),
        "admin": admin, "sams": sams,
    }
    for ch in out.values():
        ch.close()


@pytest.fixture(scope="module")
def people(index):
    """NIK -> chip record for a few people of the session index, by their status."""
    fields = [f for f in layout.BIODATA_FIELDS if f not in CARD_ONLY]
    found: dict[str, dict[str, str]] = {}
    for nik in index.sample_niks(4000):
        rec = index.lookup(nik, [*fields, "STATUS_HIDUP", "STATUS_KTP"])
        key = {("HIDUP", "AKTIF"): "current", ("HIDUP", "DIGANTI"): "replaced",
               ("HIDUP", "DIBLOKIR"): "blocked", ("MATI", "AKTIF"): "deceased"}.get(
            (rec["STATUS_HIDUP"], rec["STATUS_KTP"]))
        if key and key not in found:
            found[key] = {k: rec[k] or "" for k in fields} | {"NIK": nik}
    assert set(found) == {"current", "replaced", "blocked", "deceased"}, set(found)
    return found


def card_of(record, keys, uid=b"\x04\x11\x22\x33\x44\x55\x66"):
    master, signer = keys
    return issue_card(record, uid, master, signer, TEMPLATES)


def audit_of(server_config, tx: str) -> dict:
    for rec in reversed(tail(server_config.audit.directory, 400)):
        if rec.get("tx") == tx and rec["kind"] == "call":
            return rec
    raise AssertionError(f"no audit record for {tx}")


def audit_line(server_config, tx: str) -> str:
    from pathlib import Path
    for path in Path(server_config.audit.directory).rglob("segment-*.log"):
        for line in path.read_text().splitlines():
            if f'"tx":"{tx}"' in line:
                return line
    raise AssertionError(f"no audit line for {tx}")


def refused(branch: Branch, rpc, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        branch.call(rpc, request)
    return info.value


def tx_of(error: grpc.RpcError) -> str:
    return dict(error.trailing_metadata() or ())["nikgate-transaction-id"]


# -- answers ----------------------------------------------------------------------------------

def test_a_current_card_is_verified_with_a_receipt_naming_sam_and_chip(
        world, people, keys, server_config, receipt_public_key):
    bank = world["bank"]
    person = people["current"]
    card = card_of(person, keys)
    usage_before = world["admin"].usage("card-bank").items.get("card_verify", 0)
    request = bank.request(card)
    reply, raw = bank.call(CARD_VERIFY, request)
    assert reply.verdict == V.CARD_VERDICT_VERIFIED, reply.message
    assert "verified" in reply.message
    assert (reply.nik, reply.sam_id, reply.chip_uid) == (person["NIK"], "SAM-CB-1", card.uid)
    compared = {f.field for f in reply.fields}
    assert {"NAMA_LGKP", "TGL_LHR", "TMPT_LHR", "ALAMAT", "JENIS_KLMIN"} <= compared
    assert "NIK" not in compared and "KEL_NAME" not in compared
    assert all(f.outcome == common_pb2.OUTCOME_MATCH for f in reply.fields)
    # the receipt covers this response, sam_id and chip_uid included, and this request
    key = serialization.load_pem_public_key(receipt_public_key.read_bytes())
    check = verify_receipt(raw, key, request.SerializeToString())
    assert check.valid, check.reason
    assert (check.payload.method, check.payload.institution_id) == (CARD_VERIFY.path,
                                                                     "card-bank")
    for covered in (card.uid, b"SAM-CB-1"):
        at = raw.index(covered)
        altered = raw[:at] + bytes([raw[at] ^ 1]) + raw[at + 1:]
        assert not verify_receipt(altered, key, request.SerializeToString()).valid
    assert world["admin"].usage("card-bank").items["card_verify"] == usage_before + 1
    rec = audit_of(server_config, reply.transaction_id)
    assert (rec["channel"], rec["method"], rec["result"], rec["n"]) == (
        "card_reader", "CardVerify", "OK", 1)
    assert (rec["sam_id"], rec["reader_serial"]) == ("SAM-CB-1", "RDR-CB-1")
    assert (rec["fingerprint_matched"], rec["fingerprint_score"], rec["fingerprint_finger"],
            rec["fingerprint_attempts"]) == (True, 57, 2, 1)
    assert set(rec["fields_returned"]) == compared
    line = audit_line(server_config, reply.transaction_id)
    for value in (person["NIK"], person["NAMA_LGKP"], person["ALAMAT"], card.uid.hex(),
                  card.uid.hex().upper()):
        assert value not in line, value


@pytest.mark.parametrize("who, verdict, words", [
    ("replaced", V.CARD_VERDICT_CARD_REPLACED, "DIGANTI"),
    ("blocked", V.CARD_VERDICT_CARD_BLOCKED, "DIBLOKIR"),
    ("deceased", V.CARD_VERDICT_DECEASED, "has died"),
])
def test_a_card_that_is_not_current_or_a_deceased_holder_is_said_so(
        world, people, keys, server_config, who, verdict, words):
    reply, _ = world["bank"].call(CARD_VERIFY, world["bank"].request(card_of(people[who], keys)))
    assert reply.verdict == verdict and words in reply.message, reply.message
    assert reply.nik == people[who]["NIK"] and "do not" in reply.message
    assert audit_of(server_config, reply.transaction_id)["result"] == "OK"


def test_a_nik_not_in_the_index_is_not_found(world, people, keys, index):
    person = dict(people["current"])
    nik = person["NIK"]
    for serial in range(9999, 9000, -1):
        candidate = nik[:12] + f"{serial:04d}"
        if index.lookup(candidate, ["NAMA_LGKP"]) is None:
            break
    person["NIK"] = candidate
    reply, _ = world["bank"].call(CARD_VERIFY, world["bank"].request(card_of(person, keys)))
    assert reply.verdict == V.CARD_VERDICT_NOT_FOUND, reply.message
    assert "not in the population database" in reply.message
    assert reply.status == common_pb2.ITEM_STATUS_NOT_FOUND


def test_a_record_changed_after_the_card_was_issued_is_a_data_mismatch(world, people, keys):
    old = dict(people["current"], NAMA_LGKP="SITI AMINAH RAHAYU", ALAMAT="JL. LAMA NO. 1")
    reply, _ = world["bank"].call(CARD_VERIFY, world["bank"].request(card_of(old, keys)))
    assert reply.verdict == V.CARD_VERDICT_DATA_MISMATCH, reply.message
    differ = {f.field for f in reply.fields if f.outcome == common_pb2.OUTCOME_NO_MATCH}
    assert differ == {"NAMA_LGKP", "ALAMAT"}
    assert "NAMA_LGKP, ALAMAT" in reply.message or "ALAMAT, NAMA_LGKP" in reply.message
    assert "SITI" not in reply.message                     # values are never echoed


def test_only_the_granted_card_verify_fields_are_compared(world, people, keys):
    changed = dict(people["current"], ALAMAT="JL. LAMA NO. 1")   # not granted to card-other
    reply, _ = world["other"].call(CARD_VERIFY, world["other"].request(card_of(changed, keys)))
    assert {f.field for f in reply.fields} == {"NAMA_LGKP", "TGL_LHR"}
    assert reply.verdict == V.CARD_VERDICT_VERIFIED, reply.message


def test_a_finger_that_did_not_match_gets_no_person_data(world, people, keys, server_config):
    bank = world["bank"]
    usage_before = world["admin"].usage("card-bank").items.get("card_verify", 0)
    reply, _ = bank.call(CARD_VERIFY, bank.request(card_of(people["current"], keys),
                                                   matched=False, score=4, attempts=4))
    assert reply.verdict == V.CARD_VERDICT_FINGERPRINT_NOT_MATCHED
    assert "4 attempt(s)" in reply.message and "do not proceed" in reply.message
    assert (reply.nik, len(reply.fields), reply.status) == ("", 0, 0)
    assert world["admin"].usage("card-bank").items.get("card_verify", 0) == usage_before
    rec = audit_of(server_config, reply.transaction_id)
    assert (rec["fingerprint_matched"], rec["fingerprint_score"], rec["fingerprint_attempts"],
            rec["n"]) == (False, 4, 4, 0)


def test_an_unverified_document_signature_is_said_so_without_person_data(world, people, keys):
    bank = world["bank"]
    request = bank.request(card_of(people["current"], keys))
    request.document_signature_ok = False
    reply, _ = bank.call(CARD_VERIFY, bank.signed_directly(request))
    assert reply.verdict == V.CARD_VERDICT_DOCUMENT_SIGNATURE_INVALID
    assert "altered" in reply.message and reply.nik == "" and not reply.fields


# -- refusals: PERMISSION_DENIED, audited --------------------------------------------------------

def _denied(branch, request, server_config, words, sam="SAM-CB-1", reader="RDR-CB-1",
            rpc=CARD_VERIFY):
    error = refused(branch, rpc, request)
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED, error.details()
    assert words in error.details(), error.details()
    rec = audit_of(server_config, tx_of(error))
    assert (rec["result"], rec["channel"], rec["sam_id"], rec["reader_serial"]) == (
        "PERMISSION_DENIED", "card_reader", sam, reader)
    return rec


def test_a_forged_readout_is_refused_and_audited(world, people, keys, server_config):
    bank = world["bank"]
    usage_before = world["admin"].usage("card-bank").items.get("card_verify", 0)
    request = bank.request(card_of(people["current"], keys))
    chip = layout.decode_biodata(request.biodata)
    request.biodata = layout.encode_biodata(chip | {"NAMA_LGKP": "ORANG LAIN"})
    _denied(bank, request, server_config, "not signed by SAM SAM-CB-1")
    # a finger claimed as matched that the SAM signed as not matched
    request = bank.request(card_of(people["current"], keys), matched=False, attempts=4)
    request.fingerprint.matched = True
    _denied(bank, request, server_config, "not signed by SAM SAM-CB-1")
    # signed by another key (a PC without the SAM)
    request = bank.request(card_of(people["current"], keys))
    request.sam_signature = ec.generate_private_key(ec.SECP256R1()).sign(
        b"anything", ec.ECDSA(hashes.SHA256()))
    _denied(bank, request, server_config, "altered or forged")
    request = bank.request(card_of(people["current"], keys))
    request.sam_signature = b"\x30\x01\x00"          # not even DER
    _denied(bank, request, server_config, "not signed by SAM")
    assert world["admin"].usage("card-bank").items.get("card_verify", 0) == usage_before


def test_a_replayed_readout_is_refused(world, people, keys, server_config):
    bank = world["bank"]
    request = bank.request(card_of(people["current"], keys))
    reply, _ = bank.call(CARD_VERIFY, request)
    assert reply.verdict == V.CARD_VERDICT_VERIFIED
    _denied(bank, request, server_config, "already used")


def test_an_expired_challenge_is_refused(world, people, keys, server, server_config):
    bank = world["bank"]
    request = bank.request(card_of(people["current"], keys))
    key = b"SAM-CB-1\x00" + request.challenge
    with server.running.store.card_challenges(write=True) as txn:   # age it by 121 s
        entry = json.loads(txn.get(key))
        entry["e"] -= 121
        txn.put(key, json.dumps(entry).encode())
    _denied(bank, request, server_config, "expired")


def test_a_challenge_of_another_sam_or_reader_is_refused(world, people, keys, server_config):
    bank, other = world["bank"], world["other"]
    foreign = other.challenge()
    request = bank.request(card_of(people["current"], keys), challenge=foreign)
    _denied(bank, request, server_config, "not one nikgate issued for SAM SAM-CB-1")
    made_up = bank.request(card_of(people["current"], keys), challenge=b"\x01" * 32)
    _denied(bank, made_up, server_config, "not one nikgate issued")


def test_a_revoked_sam_is_refused(world, people, keys, server_config):
    old = world["old"]
    error = refused(old, GET_CHALLENGE, pb.ChallengeRequest(sam_id="SAM-CB-OLD",
                                                            reader_serial="RDR-CB-9"))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "revoked (reader stolen)" in error.details() and "new SAM" in error.details()
    bank = world["bank"]     # a readout by the revoked SAM with a challenge meant for it
    request = old.signed_directly(replace_fields(
        bank.request(card_of(people["current"], keys)), sam_id="SAM-CB-OLD",
        reader_serial="RDR-CB-9"))
    _denied(old, request, server_config, "revoked", sam="SAM-CB-OLD", reader="RDR-CB-9")


def test_an_issued_sam_that_was_never_activated_is_refused(world, server_config):
    new = world["new"]
    _denied(new, pb.ChallengeRequest(sam_id="SAM-CB-NEW", reader_serial="RDR-CB-2"),
            server_config, "not activated", sam="SAM-CB-NEW", reader="RDR-CB-2",
            rpc=GET_CHALLENGE)


def test_another_institutions_sam_is_refused(world, server_config):
    bank = world["bank"]
    _denied(bank, pb.ChallengeRequest(sam_id="SAM-CO-1", reader_serial="RDR-CO-1"),
            server_config, "not a SAM of card-bank", sam="SAM-CO-1", reader="RDR-CO-1",
            rpc=GET_CHALLENGE)


def test_a_sam_in_another_reader_is_refused(world, people, keys, server_config):
    bank = world["bank"]
    _denied(bank, pb.ChallengeRequest(sam_id="SAM-CB-1", reader_serial="RDR-CB-7"),
            server_config, "activated for reader RDR-CB-1, not for reader RDR-CB-7",
            reader="RDR-CB-7", rpc=GET_CHALLENGE)


def test_a_grant_without_card_verify_is_refused(world, server_config):
    noop = world["noop"]
    _denied(noop, pb.ChallengeRequest(sam_id="SAM-CN-1", reader_serial="RDR-CN-1"),
            server_config, "operation card_verify is not granted", sam="SAM-CN-1",
            reader="RDR-CN-1", rpc=GET_CHALLENGE)


def test_a_web_service_only_grant_is_refused_the_card_reader_channel(world, certs, server,
                                                                     server_config):
    from ..conftest import channel
    with channel(server.port, certs) as ch:     # bank-a: web_service only
        branch = Branch("bank-a", ch, world["sams"]["SAM-CB-1"], "RDR-CB-1")
        _denied(branch, pb.ChallengeRequest(sam_id="SAM-CB-1", reader_serial="RDR-CB-1"),
                server_config, "channel card_reader is not granted", rpc=GET_CHALLENGE)


def test_a_suspended_grant_is_refused_before_the_sam_is_looked_at(world, server_config):
    admin, bank = world["admin"], world["bank"]
    admin.set_status("card-bank", "suspended", "data balikan overdue")
    try:
        _denied(bank, pb.ChallengeRequest(sam_id="SAM-CB-1", reader_serial="RDR-CB-1"),
                server_config, "suspended", rpc=GET_CHALLENGE)
    finally:
        admin.set_status("card-bank", "active", "")


# -- malformed requests: INVALID_ARGUMENT ----------------------------------------------------------

def replace_fields(request: pb.CardVerifyRequest, **values) -> pb.CardVerifyRequest:
    out = pb.CardVerifyRequest()
    out.CopyFrom(request)
    for name, value in values.items():
        setattr(out, name, value)
    return out


def test_oversized_biodata_is_refused_before_any_work(world, people, keys):
    bank = world["bank"]
    request = replace_fields(bank.request(card_of(people["current"], keys)),
                             biodata=b"\x61" * 6000)
    error = refused(bank, CARD_VERIFY, request)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "biodata is 6,000 bytes long; at most 5,120" in error.details()
    # nothing was checked: the challenge is still there to be used
    reply, _ = bank.call(CARD_VERIFY, bank.request(card_of(people["current"], keys),
                                                   challenge=request.challenge))
    assert reply.verdict == V.CARD_VERDICT_VERIFIED


def test_malformed_biodata_signed_by_the_sam_is_invalid_argument(world, people, keys):
    bank = world["bank"]
    request = bank.signed_directly(replace_fields(
        bank.request(card_of(people["current"], keys)), biodata=b"\x61\x03\x5f\x20\x09"))
    error = refused(bank, CARD_VERIFY, request)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert "not an EF 6FF1 biodata TLV" in error.details()


@pytest.mark.parametrize("change, words", [
    ({"sam_id": "SAM 1; DROP"}, "a SAM id is"),
    ({"reader_serial": ""}, "a reader serial is"),
    ({"chip_uid": b"\x01\x02"}, "chip_uid is 4, 7 or 10 bytes"),
    ({"challenge": b"\x01" * 16}, "the 32 bytes GetChallenge gave"),
    ({"sam_signature": b""}, "sam_signature is empty"),
])
def test_malformed_fields_are_named(world, people, keys, change, words):
    bank = world["bank"]
    error = refused(bank, CARD_VERIFY, replace_fields(
        bank.request(card_of(people["current"], keys)), **change))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert words in error.details(), error.details()


@pytest.mark.parametrize("fp, words", [
    (None, "fingerprint is required"),
    (pb.FingerprintOutcome(matched=True, score=101, finger=2, attempts=1), "0-100"),
    (pb.FingerprintOutcome(matched=True, score=50, finger=2, attempts=0), "attempts"),
    (pb.FingerprintOutcome(matched=True, score=50, finger=5, attempts=1), "RIGHT_INDEX"),
])
def test_a_malformed_fingerprint_outcome_is_refused(world, people, keys, fp, words):
    bank = world["bank"]
    request = bank.request(card_of(people["current"], keys))
    if fp is None:
        request.ClearField("fingerprint")
    else:
        request.fingerprint.CopyFrom(fp)
    error = refused(bank, CARD_VERIFY, request)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT and words in error.details()


# -- the registry over the Admin service -------------------------------------------------------

def test_admin_rpcs_manage_the_registry_for_operators_only(world, certs, server, keys):
    from nikgate.v1 import admin_pb2

    from ..conftest import channel
    master, signer = keys
    sam = issue_sam("card-bank", master, signer.public_key(), SECRET, "SAM-CB-RPC")

    def admin_call(name, request, which="operator"):
        rpc = methods.rpc("Admin", name)
        with channel(server.port, certs, which) as ch:
            raw = ch.unary_unary(rpc.path, lambda b: b, lambda b: b)(
                request.SerializeToString(), timeout=30)
        return rpc.response.FromString(raw)

    with pytest.raises(grpc.RpcError) as info:
        admin_call("ListSams", admin_pb2.ListSamsRequest(), which="good")
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
    got = admin_call("RegisterSam", admin_pb2.RegisterSamRequest(
        sam_id="SAM-CB-RPC", institution="card-bank", public_key_pem=sam.public_key_pem()))
    assert (got.status, got.reader_serial) == ("issued", "")
    got = admin_call("ActivateSam", admin_pb2.ActivateSamRequest(sam_id="SAM-CB-RPC",
                                                                  reader_serial="RDR-CB-5"))
    assert (got.status, got.reader_serial) == ("active", "RDR-CB-5")
    with pytest.raises(grpc.RpcError) as info:
        admin_call("ActivateSam", admin_pb2.ActivateSamRequest(sam_id="SAM-CB-RPC",
                                                                reader_serial="RDR-CB-6"))
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "rebind" in info.value.details()
    got = admin_call("ActivateSam", admin_pb2.ActivateSamRequest(
        sam_id="SAM-CB-RPC", reader_serial="RDR-CB-6", rebind=True))
    assert got.reader_serial == "RDR-CB-6"
    got = admin_call("RevokeSam", admin_pb2.RevokeSamRequest(sam_id="SAM-CB-RPC",
                                                              reason="test over"))
    assert (got.status, got.status_reason) == ("revoked", "test over")
    listed = admin_call("ListSams", admin_pb2.ListSamsRequest(institution="card-bank")).sams
    assert {s.sam_id for s in listed} >= {"SAM-CB-1", "SAM-CB-NEW", "SAM-CB-OLD",
                                          "SAM-CB-RPC"}
    assert all(s.institution == "card-bank" for s in listed)
