"""The card reader end to end: the teller client (nikgate.clients.cardreader) reads an
emulated KTP-el through its SAM, matches the finger on the device and asks a real nikgate
server (CardVerify over mutual TLS), by both reader paths: the emulators in-process (sim)
and through real PC/SC (pcscd + vpcd, conftest.py). Every attack of issue 12 is here, each
asserting what the teller is told; the refusals that must happen before any server call are
checked against the server's audit log."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from nikgate import errors
from nikgate.card import (
    CardAuthenticationFailed,
    CardImage,
    CardRemoved,
    DocumentSignatureInvalid,
    SamImage,
    SamLocked,
    SamSecretWrong,
    SimReader,
    issue_card,
    issue_sam,
    layout,
    load_or_create_card_master_key,
    load_or_create_document_signer,
)
from nikgate.card.chip import ChipEmulator
from nikgate.card.sam import SamEmulator
from nikgate.cli.card import chip_record, fingerprints_of, make_card
from nikgate.clients import Connection
from nikgate.clients.cardreader import (
    CardReaderSession,
    FingerprintNotMatched,
    SyntheticSensor,
    teller_message,
)
from nikgate.fingerprint import MAX_ATTEMPTS
from nikgate.server.access.admin import Admin
from nikgate.server.access.grants import FIELD_UNIVERSE
from nikgate.server.receipts import verify_receipt

from ...conftest import run_cli
from ..conftest import full_grant

SECRET = "branch-desk-secret"
INSTITUTION = "bank-a"            # the session server's good certificate
OTHER = "bank-revoked"            # another institution the session server knows
_ids = itertools.count(1)


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> Path:
    """Dukcapil's card keys (master key, document signer) in a CA-like directory."""
    d = tmp_path_factory.mktemp("card-keys")
    load_or_create_card_master_key(d)
    load_or_create_document_signer(d)
    return d


@pytest.fixture(scope="module")
def admin(server):
    """bank-a may card_verify on the card_reader channel for this module."""
    a = Admin(server.running.store)
    base = full_grant(INSTITUTION)
    a.set_grant(full_grant(
        INSTITUTION, operations=(*base.operations, "card_verify"),
        fields={**base.fields, "card_verify": tuple(sorted(FIELD_UNIVERSE["card_verify"]))},
        channels=("web_service", "card_reader")))
    yield a
    a.set_grant(full_grant(INSTITUTION))


@pytest.fixture(scope="module")
def people(index) -> dict[str, str]:
    """A NIK per kind of record: current, replaced card, deceased; and one not stored."""
    niks = index.sample_niks(4000)
    got = index.lookup_batch(niks, ["STATUS_KTP", "STATUS_HIDUP"])
    kinds: dict[tuple, str] = {}
    for i, nik in enumerate(niks):
        item = got.item(i)
        assert item is not None
        kinds.setdefault((item["STATUS_KTP"], item["STATUS_HIDUP"]), nik)
    missing = next(f"{n[:12]}{s:04d}" for n in niks for s in range(9999, 9000, -1)
                   if index.lookup(f"{n[:12]}{s:04d}", ["NAMA_LGKP"]) is None)
    return {"current": kinds[("AKTIF", "HIDUP")], "replaced": kinds[("DIGANTI", "HIDUP")],
            "deceased": kinds[("AKTIF", "MATI")], "missing": missing}


@pytest.fixture(scope="module")
def cards(index, people, keys) -> dict[str, CardImage]:
    out = {name: make_card(chip_record(index, nik), keys)
           for name, nik in people.items() if name != "missing"}
    # A card Dukcapil issued for a NIK the index does not hold (a record since removed).
    record = {**chip_record(index, people["current"]), "NIK": people["missing"]}
    out["missing"] = make_card(record, keys)
    return out


@pytest.fixture
def connection(server, certs, tmp_path) -> Connection:
    (tmp_path / "ca.crt").write_bytes(certs.ca)
    (tmp_path / "c.key").write_bytes(certs.good[0])
    (tmp_path / "c.crt").write_bytes(certs.good[1])
    return Connection(f"127.0.0.1:{server.port}", tmp_path / "ca.crt", tmp_path / "c.crt",
                      tmp_path / "c.key")


class Sams:
    """Issues SAMs and registers them; every SAM and reader serial is new."""

    def __init__(self, admin: Admin, keys: Path) -> None:
        self.admin = admin
        self.keys = keys

    def new(self, institution: str = INSTITUTION, *, activate: bool = True,
            max_tries: int = 5) -> tuple[SamImage, str]:
        n = next(_ids)
        sam = issue_sam(institution, load_or_create_card_master_key(self.keys),
                        load_or_create_document_signer(self.keys).public_key(), SECRET,
                        f"SAM-E2E-{n:04d}", max_tries=max_tries)
        serial = f"E2E-READER-{n:04d}"
        self.admin.register_sam(sam.sam_id, institution, sam.public_key_pem())
        if activate:
            self.admin.activate_sam(sam.sam_id, serial)
        return sam, serial


@pytest.fixture
def sams(admin, keys) -> Sams:
    return Sams(admin, keys)


@pytest.fixture(params=["sim", "pcsc"])
def readers(request):
    """put(card_image, sam_image, drop_after=None) -> (card reader, SAM reader), in-process
    or as PC/SC readers holding the emulators."""
    if request.param == "sim":
        def put(card, sam, drop_after=None):
            return (SimReader(ChipEmulator(card), drop_after=drop_after),
                    SimReader(SamEmulator(sam)))
        return put
    attach = request.getfixturevalue("attach")

    def put_pcsc(card, sam, drop_after=None):
        return (f"pcsc:{attach(ChipEmulator(card), 0, drop_after=drop_after)}",
                f"pcsc:{attach(SamEmulator(sam), 1)}")
    return put_pcsc


def card_calls(server_config) -> dict[str, int]:
    """How many GetChallenge and CardVerify calls the server has audited so far."""
    counts = {"GetChallenge": 0, "CardVerify": 0}
    for path in Path(server_config.audit.directory).rglob("*.log"):
        for line in path.read_bytes().splitlines():
            if b"GetChallenge" not in line and b"CardVerify" not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            method = str(record.get("method", "")).rsplit("/", 1)[-1]
            if record.get("kind") == "call" and method in counts:
                counts[method] += 1
    return counts


def session(readers, card, sam_serial, connection, **kw) -> CardReaderSession:
    sam, serial = sam_serial
    card_reader, sam_reader = readers(card, sam, kw.pop("drop_after", None))
    s = CardReaderSession(card_reader, sam_reader, reader_serial=serial,
                          connection=connection, **kw)
    s.unlock(SECRET)
    return s


# --- answers ---------------------------------------------------------------------------------


def test_a_current_card_is_verified_with_a_signed_receipt(readers, cards, sams, connection,
                                                          people, receipt_public_key):
    sam = sams.new()
    with session(readers, cards["current"], sam, connection) as s:
        check = s.check(SyntheticSensor(people["current"], seed=1))
    assert check.verdict == "VERIFIED" and check.verified, check.message
    assert check.nik == people["current"] and check.chip_uid == cards["current"].uid.hex().upper()
    assert check.sam_id == sam[0].sam_id and check.card_status == "AKTIF"
    assert check.life_status == "HIDUP" and check.fingerprint.matched
    assert check.fields and all(f.outcome == "MATCH" for f in check.fields), check.fields
    assert check.message.startswith("KTP-el verified")
    key = serialization.load_pem_public_key(receipt_public_key.read_bytes())
    receipt = verify_receipt(check.reply.response_bytes, key, check.reply.request_bytes)
    assert receipt.valid, receipt.reason
    assert receipt.payload.method.endswith("CardVerify")


def test_a_replaced_card_is_refused_with_the_reason(readers, cards, sams, connection, people):
    with session(readers, cards["replaced"], sams.new(), connection) as s:
        check = s.check(SyntheticSensor(people["replaced"], seed=1))
    assert check.verdict == "CARD_REPLACED" and not check.verified
    assert check.card_status == "DIGANTI"
    assert "replaced by a newer card" in check.message and "current KTP-el" in check.message


def test_a_deceased_persons_card(readers, cards, sams, connection, people):
    with session(readers, cards["deceased"], sams.new(), connection) as s:
        check = s.check(SyntheticSensor(people["deceased"], seed=1))
    assert check.verdict == "DECEASED" and check.life_status == "MATI"
    assert "has died" in check.message


def test_a_nik_not_in_the_index(readers, cards, sams, connection, people):
    with session(readers, cards["missing"], sams.new(), connection) as s:
        check = s.check(SyntheticSensor(people["missing"], seed=1))
    assert check.verdict == "NOT_FOUND" and check.nik == people["missing"]
    assert "not in the population database" in check.message


# --- refused on the device: nothing reaches the server -------------------------------------


def test_a_cloned_card_is_refused_before_any_server_call(readers, cards, sams, connection,
                                                         people, keys, server_config):
    genuine = cards["current"]
    other = issue_card(layout.decode_biodata(genuine.files[layout.EF_BIODATA]), genuine.uid,
                       bytes(16), load_or_create_document_signer(keys),
                       fingerprints_of(people["current"]))
    clone = CardImage(uid=genuine.uid, key_version=1, k_enc=other.k_enc, k_mac=other.k_mac,
                      files=dict(genuine.files))
    before = card_calls(server_config)
    with session(readers, clone, sams.new(), connection) as s:
        with pytest.raises(CardAuthenticationFailed) as e:
            s.check(SyntheticSensor(people["current"]))
    assert "not a genuine KTP-el" in teller_message(e.value)
    assert "do not accept" in teller_message(e.value)
    assert card_calls(server_config) == before


def test_altered_chip_data_are_refused_before_any_server_call(readers, cards, sams,
                                                              connection, people,
                                                              server_config):
    genuine = cards["current"]
    altered = genuine.with_file(layout.EF_BIODATA, layout.encode_biodata(
        {**layout.decode_biodata(genuine.files[layout.EF_BIODATA]), "NAMA_LGKP": "ORANG LAIN"}))
    before = card_calls(server_config)
    with session(readers, altered, sams.new(), connection) as s:
        with pytest.raises(DocumentSignatureInvalid) as e:
            s.check(SyntheticSensor(people["current"]))
    assert "altered" in teller_message(e.value) and "report" in teller_message(e.value)
    assert card_calls(server_config) == before


def test_a_card_removed_mid_read_gives_no_partial_result(readers, cards, sams, connection,
                                                         people, server_config):
    before = card_calls(server_config)
    with session(readers, cards["current"], sams.new(), connection, drop_after=12) as s:
        with pytest.raises(CardRemoved) as e:
            s.check(SyntheticSensor(people["current"]))
        assert s.readout is None
    assert "nothing was kept" in teller_message(e.value)
    assert "lay the card on the reader again" in teller_message(e.value)
    assert card_calls(server_config) == before


def test_a_finger_failing_past_the_cap_refuses_the_card(readers, cards, sams, connection,
                                                        people, server_config):
    before = card_calls(server_config)
    with session(readers, cards["current"], sams.new(), connection) as s:
        sensor = SyntheticSensor(people["current"], impostor=True)
        with pytest.raises(FingerprintNotMatched) as e:
            s.check(sensor)
        assert sensor.captures == MAX_ATTEMPTS and not e.value.sent
        assert "refused for this session" in str(e.value)
        assert "nothing was sent to nikgate" in str(e.value)
        assert card_calls(server_config) == before
        # Reported on request: signed, audited, the server's verdict says so.
        with pytest.raises(FingerprintNotMatched) as e:
            s.check(SyntheticSensor(people["current"], impostor=True), report_refusal=True)
    assert e.value.sent and e.value.result is not None
    assert e.value.result.verdict == "FINGERPRINT_NOT_MATCHED"
    assert "recorded by nikgate" in str(e.value)
    assert card_calls(server_config)["CardVerify"] == before["CardVerify"] + 1


def test_wrong_sam_secrets_lock_the_sam(readers, cards, sams, connection):
    sam, serial = sams.new(max_tries=3)
    card_reader, sam_reader = readers(cards["current"], sam)
    with CardReaderSession(card_reader, sam_reader, reader_serial=serial,
                           connection=connection) as s:
        for left in (2, 1):
            with pytest.raises(SamSecretWrong) as e:
                s.unlock("not-the-secret")
            assert e.value.tries_left == left
            assert f"{left} tr" in teller_message(e.value)
        with pytest.raises(SamLocked) as e:
            s.unlock("not-the-secret")
        assert "Dukcapil" in teller_message(e.value)
        with pytest.raises(SamLocked):
            s.unlock(SECRET)


# --- refused by the server ------------------------------------------------------------------


def test_a_readout_forged_on_the_pc_is_refused(readers, cards, sams, connection, people,
                                               server_config):
    with session(readers, cards["current"], sams.new(), connection) as s:
        s.read_card()
        s.match_fingerprint(SyntheticSensor(people["current"], seed=2))
        request = s.signed_request()
        forged = type(request)()
        forged.CopyFrom(request)
        forged.biodata = layout.encode_biodata(
            {**layout.decode_biodata(request.biodata), "NAMA_LGKP": "ORANG LAIN"})
        before = card_calls(server_config)
        with pytest.raises(errors.PermissionDenied) as e:
            s.send(forged)
        assert e.value.grpc_code == "PERMISSION_DENIED"
        assert "supervisor" in teller_message(e.value)
        assert card_calls(server_config)["CardVerify"] == before["CardVerify"] + 1  # audited
        request.fingerprint.attempts += 1          # the digest no longer matches either
        with pytest.raises(errors.PermissionDenied):
            s.send(request)


def test_a_replayed_readout_is_refused(readers, cards, sams, connection, people):
    with session(readers, cards["current"], sams.new(), connection) as s:
        s.read_card()
        s.match_fingerprint(SyntheticSensor(people["current"], seed=3))
        request = s.signed_request()
        assert s.send(request).verdict == "VERIFIED"
        with pytest.raises(errors.PermissionDenied) as e:
            s.send(request)
    assert "challenge" in str(e.value).lower() or "replay" in str(e.value).lower()


def test_a_revoked_sam_is_refused(readers, cards, sams, connection, people, admin):
    sam = sams.new()
    admin.revoke_sam(sam[0].sam_id, "reader stolen")
    with session(readers, cards["current"], sam, connection) as s:
        with pytest.raises(errors.PermissionDenied) as e:
            s.check(SyntheticSensor(people["current"], seed=1))
    assert "revoked" in str(e.value).lower()
    assert "do not accept the card" in teller_message(e.value)


def test_an_inactive_sam_is_refused(readers, cards, sams, connection, people):
    with session(readers, cards["current"], sams.new(activate=False), connection) as s:
        with pytest.raises(errors.PermissionDenied) as e:
            s.check(SyntheticSensor(people["current"], seed=1))
    assert "activ" in str(e.value).lower()


def test_another_institutions_sam_is_refused(readers, cards, sams, connection, people):
    with session(readers, cards["current"], sams.new(OTHER), connection) as s:
        with pytest.raises(errors.PermissionDenied) as e:
            s.check(SyntheticSensor(people["current"], seed=1))
    assert "institution" in str(e.value).lower() or "not yours" in str(e.value).lower()


def test_a_sam_on_another_reader_is_refused(readers, cards, sams, connection, people):
    sam, _ = sams.new()
    with session(readers, cards["current"], (sam, "E2E-READER-ELSEWHERE"), connection) as s:
        with pytest.raises(errors.PermissionDenied) as e:
            s.check(SyntheticSensor(people["current"], seed=1))
    assert "reader" in str(e.value).lower()


# --- the command line (sim path) ------------------------------------------------------------


def test_the_cli_reads_and_verifies(cards, sams, server, certs, people, tmp_path):
    sam, serial = sams.new()
    for name in ("current", "replaced"):
        cards[name].save(tmp_path / f"{name}.card.json")
    sam.save(tmp_path / "sam.json")
    (tmp_path / "secret").write_text(SECRET + "\n")
    (tmp_path / "ca.crt").write_bytes(certs.ca)
    (tmp_path / "c.key").write_bytes(certs.good[0])
    (tmp_path / "c.crt").write_bytes(certs.good[1])
    (tmp_path / "connection.json").write_text(json.dumps({
        "address": f"127.0.0.1:{server.port}", "ca": "ca.crt",
        "institutions": {INSTITUTION: {"cert": "c.crt", "key": "c.key"}}}))
    common = ["--sam-reader", f"sim:{tmp_path / 'sam.json'}", "--sam-secret-file",
              str(tmp_path / "secret")]
    remote = [*common, "--connection", str(tmp_path / "connection.json"), "--as",
              INSTITUTION, "--reader-serial", serial]

    out = run_cli("card-reader", "read", "--reader", f"sim:{tmp_path / 'current.card.json'}",
                  *common)
    assert out.returncode == 0, out.stderr
    assert people["current"] in out.stdout and "valid" in out.stdout
    right = cards["current"].files[layout.EF_RIGHT_INDEX]
    assert right.hex() not in out.stdout.lower() and "bytes" in out.stdout

    out = run_cli("card-reader", "verify", "--reader",
                  f"sim:{tmp_path / 'current.card.json'}", *remote)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("VERIFIED") and "NAMA_LGKP" in out.stdout

    out = run_cli("card-reader", "verify", "--reader",
                  f"sim:{tmp_path / 'replaced.card.json'}", *remote)
    assert out.returncode == 3 and out.stdout.startswith("CARD_REPLACED"), out.stderr

    out = run_cli("card-reader", "verify", "--reader",
                  f"sim:{tmp_path / 'current.card.json'}", *remote, "--finger", "impostor")
    assert out.returncode == 4 and "refused for this session" in out.stderr

    out = run_cli("card-reader", "verify", "--reader",
                  f"sim:{tmp_path / 'current.card.json'}", *remote[:-1], "NO-SUCH-READER")
    assert out.returncode == 4 and "PERMISSION_DENIED" in out.stderr, out.stderr


def test_the_demo_prints_card_reader_commands_that_work(tmp_path):
    """`nikgate demo` makes cards and an active SAM; its pasted commands give the right
    answers: a current card VERIFIED (0), a replaced card CARD_REPLACED (3), an impostor's
    finger refused (4)."""
    import shlex
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "nikgate", "demo", "--dir", str(tmp_path),
                             "--records", "2000", "--port", "0", "--workers", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C stops the server" in line:
                break
        out = "".join(lines)
        pasted = [x.split("nikgate ", 1)[1] for x in out.splitlines()
                  if "nikgate card-reader verify" in x]
        assert len(pasted) == 4, out
        expected = [(0, "VERIFIED"), (3, "CARD_REPLACED"), (3, "DECEASED"), (4, "")]
        for command, (status, verdict) in zip(pasted, expected):
            r = run_cli(*shlex.split(command))
            assert r.returncode == status, r.stdout + r.stderr
            assert r.stdout.startswith(verdict)
        assert "refused for this session" in r.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
