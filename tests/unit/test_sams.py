"""The SAM registry's rules and the card-reader challenges, over a real control store and
audit log: register, activate (and rebind), revoke, list; challenges issued, consumed once,
expired, capped per SAM, dropped on revocation."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from nikgate.errors import InvalidInputError, PermissionDenied
from nikgate.server.access.admin import Admin
from nikgate.server.access.sams import Sam, SamRegistry
from nikgate.server.access.store import ControlStore
from nikgate.server.audit import verify_log
from nikgate.server.audit.queries import tail


def _pem(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


PEM = _pem(ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture
def store(tmp_path):
    s = ControlStore(tmp_path / "control")
    yield s
    s.close()


@pytest.fixture
def admin(store, tmp_path):
    a = Admin(store, "ops-test", str(tmp_path / "audit"), str(tmp_path / "audit.key"))
    a.add_institution("bank-a", "Bank A", "bank")
    a.add_institution("bank-b", "Bank B", "bank")
    return a


def _records(tmp_path) -> list[dict]:
    return [r for r in tail(tmp_path / "audit", 1000)
            if r["kind"] == "call" and r["method"].startswith("admin/sam.")]


# -- register ------------------------------------------------------------------------------

def test_register_stores_an_issued_sam_with_its_normalised_key_and_audits_it(admin, tmp_path):
    sam = admin.register_sam("SAM-0001", "bank-a", PEM)
    assert (sam.status, sam.reader_serial, sam.institution) == ("issued", "", "bank-a")
    assert sam.public_key_pem.encode() == PEM
    assert admin.list_sams() == [sam]
    (rec,) = _records(tmp_path)
    assert (rec["method"], rec["institution"], rec["result"]) == (
        "admin/sam.register", "bank-a", "OK")
    assert "SAM-0001" in rec["purpose"] and "ops-test" in rec["purpose"]
    assert verify_log(tmp_path / "audit").ok


def test_a_sam_id_is_never_registered_twice_even_after_revocation(admin):
    admin.register_sam("SAM-0001", "bank-a", PEM)
    admin.revoke_sam("SAM-0001", "lost")
    with pytest.raises(InvalidInputError, match="never reused") as info:
        admin.register_sam("SAM-0001", "bank-b", PEM)
    assert info.value.field == "sam_id"


@pytest.mark.parametrize("key", [
    b"", b"not a pem", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    _pem(ec.generate_private_key(ec.SECP384R1())),           # the wrong curve
    _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    _pem(ed25519.Ed25519PrivateKey.generate()),
    b"x" * 5000,
])
def test_register_takes_only_an_ecdsa_p256_public_key(admin, key, tmp_path):
    with pytest.raises(InvalidInputError) as info:
        admin.register_sam("SAM-0001", "bank-a", key)
    assert info.value.field == "public_key_pem"
    assert admin.list_sams() == [] and _records(tmp_path) == []


@pytest.mark.parametrize("sam_id", ["", "-SAM", "SAM 1", "SAM\x001", "S" * 65, "SAM/1"])
def test_register_refuses_malformed_sam_ids(admin, sam_id):
    with pytest.raises(InvalidInputError) as info:
        admin.register_sam(sam_id, "bank-a", PEM)
    assert info.value.field == "sam_id"


def test_register_needs_a_known_institution(admin):
    with pytest.raises(InvalidInputError, match="institution add") as info:
        admin.register_sam("SAM-0001", "bank-nope", PEM)
    assert info.value.field == "institution"


# -- activate ------------------------------------------------------------------------------

def test_activate_binds_the_sam_to_one_reader_and_again_changes_nothing(admin, tmp_path):
    admin.register_sam("SAM-0001", "bank-a", PEM)
    sam = admin.activate_sam("SAM-0001", "RDR-100")
    assert (sam.status, sam.reader_serial) == ("active", "RDR-100")
    assert admin.activate_sam("SAM-0001", "RDR-100") == sam
    methods = [r["method"] for r in _records(tmp_path)]
    assert methods == ["admin/sam.register", "admin/sam.activate"]   # no record for a no-op


def test_an_active_sam_is_not_moved_to_another_reader_without_rebind(admin, tmp_path):
    admin.register_sam("SAM-0001", "bank-a", PEM)
    admin.activate_sam("SAM-0001", "RDR-100")
    with pytest.raises(InvalidInputError, match="not moved .* silently.*--rebind") as info:
        admin.activate_sam("SAM-0001", "RDR-200")
    assert info.value.field == "reader_serial"
    assert admin.list_sams()[0].reader_serial == "RDR-100"
    moved = admin.activate_sam("SAM-0001", "RDR-200", rebind=True)
    assert moved.reader_serial == "RDR-200"
    rec = _records(tmp_path)[-1]
    assert rec["method"] == "admin/sam.rebind"
    assert "RDR-100" in rec["purpose"] and "RDR-200" in rec["purpose"]


def test_a_reader_holds_one_active_sam_of_an_institution(admin):
    admin.register_sam("SAM-0001", "bank-a", PEM)
    admin.register_sam("SAM-0002", "bank-a", PEM)
    admin.register_sam("SAM-0003", "bank-b", PEM)
    admin.activate_sam("SAM-0001", "RDR-100")
    with pytest.raises(InvalidInputError, match="already holds active SAM SAM-0001"):
        admin.activate_sam("SAM-0002", "RDR-100")
    # another institution's reader may carry the same serial (another vendor)
    assert admin.activate_sam("SAM-0003", "RDR-100").status == "active"
    admin.revoke_sam("SAM-0001", "reader retired")
    assert admin.activate_sam("SAM-0002", "RDR-100").reader_serial == "RDR-100"


def test_a_revoked_or_unknown_sam_cannot_be_activated(admin):
    with pytest.raises(InvalidInputError, match="no SAM SAM-0009"):
        admin.activate_sam("SAM-0009", "RDR-100")
    admin.register_sam("SAM-0001", "bank-a", PEM)
    admin.revoke_sam("SAM-0001", "stolen")
    with pytest.raises(InvalidInputError, match="revoked \\(stolen\\)"):
        admin.activate_sam("SAM-0001", "RDR-100")


@pytest.mark.parametrize("serial", ["", " RDR", "RDR 1", "R" * 65, "RDR\n1"])
def test_activate_refuses_malformed_reader_serials(admin, serial):
    admin.register_sam("SAM-0001", "bank-a", PEM)
    with pytest.raises(InvalidInputError) as info:
        admin.activate_sam("SAM-0001", serial)
    assert info.value.field == "reader_serial"


# -- revoke and list -------------------------------------------------------------------------

def test_revoke_needs_a_reason_and_is_final(admin, tmp_path):
    admin.register_sam("SAM-0001", "bank-a", PEM)
    with pytest.raises(InvalidInputError, match="reason is required"):
        admin.revoke_sam("SAM-0001", "  ")
    sam = admin.revoke_sam("SAM-0001", "reader stolen")
    assert (sam.status, sam.status_reason) == ("revoked", "reader stolen")
    with pytest.raises(InvalidInputError, match="already revoked"):
        admin.revoke_sam("SAM-0001", "again")
    assert [r["method"] for r in _records(tmp_path)] == ["admin/sam.register",
                                                          "admin/sam.revoke"]


def test_list_filters_by_institution_in_id_order(admin):
    for sam_id, inst in (("SAM-3", "bank-b"), ("SAM-1", "bank-a"), ("SAM-2", "bank-a")):
        admin.register_sam(sam_id, inst, PEM)
    assert [s.sam_id for s in admin.list_sams()] == ["SAM-1", "SAM-2", "SAM-3"]
    assert [s.sam_id for s in admin.list_sams("bank-a")] == ["SAM-1", "SAM-2"]


def test_a_change_made_meanwhile_is_not_overwritten(store, admin):
    admin.register_sam("SAM-0001", "bank-a", PEM)
    stale = store.sam_raw("SAM-0001")
    admin.activate_sam("SAM-0001", "RDR-100")
    with pytest.raises(ValueError, match="changed by another administrator"):
        store.put_sam("SAM-0001", Sam.from_json(stale).to_json(), stale)
    assert Sam.from_json(store.sam_raw("SAM-0001")).status == "active"


# -- the check a card-reader call makes ------------------------------------------------------

@pytest.fixture
def registry(store, admin):
    admin.register_sam("SAM-A", "bank-a", PEM)
    admin.activate_sam("SAM-A", "RDR-1")
    admin.register_sam("SAM-ISSUED", "bank-a", PEM)
    admin.register_sam("SAM-B", "bank-b", PEM)
    admin.activate_sam("SAM-B", "RDR-9")
    admin.register_sam("SAM-GONE", "bank-a", PEM)
    admin.activate_sam("SAM-GONE", "RDR-2")
    admin.revoke_sam("SAM-GONE", "reader stolen")
    return SamRegistry(store)


@pytest.mark.parametrize("sam_id, reader, message", [
    ("SAM-NONE", "RDR-1", "not a SAM of bank-a"),
    ("SAM-B", "RDR-9", "not a SAM of bank-a"),          # another institution's: the same
    ("SAM-ISSUED", "RDR-1", "not activated: ask Dukcapil to activate it"),
    ("SAM-GONE", "RDR-2", "revoked \\(reader stolen\\).*new SAM"),
    ("SAM-A", "RDR-2", "activated for reader RDR-1, not for reader RDR-2"),
])
def test_a_call_may_use_only_its_own_active_sam_on_its_reader(registry, sam_id, reader,
                                                             message):
    with pytest.raises(PermissionDenied, match=message):
        registry.for_call("bank-a", sam_id, reader)


def test_the_right_sam_on_its_reader_passes(registry):
    assert registry.for_call("bank-a", "SAM-A", "RDR-1").sam_id == "SAM-A"


# -- challenges -------------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_challenge_is_32_random_bytes_consumed_exactly_once(store):
    reg = SamRegistry(store)
    c = reg.issue_challenge("bank-a", "SAM-A", "RDR-1")
    assert len(c) == 32 and c != reg.issue_challenge("bank-a", "SAM-A", "RDR-1")
    reg.consume_challenge("bank-a", "SAM-A", "RDR-1", c)
    with pytest.raises(PermissionDenied, match="already used"):
        reg.consume_challenge("bank-a", "SAM-A", "RDR-1", c)


def test_a_challenge_is_shared_by_every_process_on_the_store(store, tmp_path):
    # another process on the same store stands in for another worker
    c = SamRegistry(store).issue_challenge("bank-a", "SAM-A", "RDR-1")
    code = ("import sys; from nikgate.server.access.sams import SamRegistry; "
            "from nikgate.server.access.store import ControlStore; "
            "SamRegistry(ControlStore(sys.argv[1])).consume_challenge("
            "'bank-a', 'SAM-A', 'RDR-1', bytes.fromhex(sys.argv[2]))")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "control"), c.hex()],
                   check=True, timeout=60)
    with pytest.raises(PermissionDenied, match="already used"):
        SamRegistry(store).consume_challenge("bank-a", "SAM-A", "RDR-1", c)


def test_an_expired_challenge_is_refused_and_used_up(store):
    clock = Clock()
    reg = SamRegistry(store, lifetime=120, clock=clock)
    c = reg.issue_challenge("bank-a", "SAM-A", "RDR-1")
    clock.now += 121
    with pytest.raises(PermissionDenied, match="expired 1 s ago .*valid 120 s"):
        reg.consume_challenge("bank-a", "SAM-A", "RDR-1", c)
    with pytest.raises(PermissionDenied, match="already used"):
        reg.consume_challenge("bank-a", "SAM-A", "RDR-1", c)


def test_a_challenge_works_only_for_its_sam_and_reader(store):
    reg = SamRegistry(store)
    c = reg.issue_challenge("bank-a", "SAM-A", "RDR-1")
    with pytest.raises(PermissionDenied, match="not one nikgate issued for SAM SAM-A2"):
        reg.consume_challenge("bank-a", "SAM-A2", "RDR-1", c)
    with pytest.raises(PermissionDenied, match="another reader"):
        reg.consume_challenge("bank-a", "SAM-A", "RDR-7", c)
    with pytest.raises(PermissionDenied, match="already used"):  # a wrong try uses it up
        reg.consume_challenge("bank-a", "SAM-A", "RDR-1", c)


def test_outstanding_challenges_are_capped_per_sam_oldest_dropped_expired_purged(store):
    clock = Clock()
    reg = SamRegistry(store, lifetime=120, max_outstanding=3, clock=clock)
    issued = []
    for _ in range(5):
        clock.now += 1
        issued.append(reg.issue_challenge("bank-a", "SAM-A", "RDR-1"))
    assert reg.outstanding("SAM-A") == 3
    with pytest.raises(PermissionDenied):
        reg.consume_challenge("bank-a", "SAM-A", "RDR-1", issued[0])   # dropped: oldest
    reg.consume_challenge("bank-a", "SAM-A", "RDR-1", issued[4])
    other = reg.issue_challenge("bank-a", "SAM-A1", "RDR-2")           # another SAM: apart
    clock.now += 500
    reg.issue_challenge("bank-a", "SAM-A", "RDR-1")
    with store.card_challenges(write=False) as txn:
        keys = [bytes(k) for k, _ in txn.cursor()]
    assert [k for k in keys if k.startswith(b"SAM-A\x00")].__len__() == 1   # purged
    assert b"SAM-A1\x00" + other in keys                            # until SAM-A1 asks again


def test_revoking_a_sam_drops_its_challenges(store, admin):
    admin.register_sam("SAM-A", "bank-a", PEM)
    admin.activate_sam("SAM-A", "RDR-1")
    reg = SamRegistry(store)
    c = reg.issue_challenge("bank-a", "SAM-A", "RDR-1")
    admin.revoke_sam("SAM-A", "lost")
    assert reg.outstanding("SAM-A") == 0
    with pytest.raises(PermissionDenied):
        reg.consume_challenge("bank-a", "SAM-A", "RDR-1", c)


# -- the CLI ---------------------------------------------------------------------------------

def test_the_cli_issues_registers_activates_and_lists(tmp_path, capsys):
    import json

    from nikgate.card import SamImage
    from nikgate.cli import main

    common = ["--store", str(tmp_path / "control"), "--audit-dir", str(tmp_path / "audit"),
              "--audit-key", str(tmp_path / "audit.key")]
    assert main(["pki", "init", "--dir", str(tmp_path / "pki")]) == 0
    assert (tmp_path / "pki" / "ca" / "card-master.key").exists()
    assert main(["institution", "add", "bank-a", "--name", "Bank A", *common]) == 0
    (tmp_path / "secret").write_text("rahasia-cabang\n")
    out = tmp_path / "sam.json"
    assert main(["sam", "issue", "--institution", "bank-a", "--out", str(out), "--sam-id",
                 "SAM-0001", "--secret-file", str(tmp_path / "secret"), "--pki",
                 str(tmp_path / "pki"), *common]) == 0
    image = SamImage.load(out)
    assert image.check_secret("rahasia-cabang") and oct(out.stat().st_mode)[-3:] == "600"
    assert main(["sam", "issue", "--institution", "bank-a", "--out", str(out), "--pki",
                 str(tmp_path / "pki"), *common]) == 2          # never overwritten
    assert main(["sam", "activate", "SAM-0001", "--reader", "RDR-1", *common]) == 0
    assert main(["sam", "activate", "SAM-0001", "--reader", "RDR-2", *common]) == 2
    capsys.readouterr()
    assert main(["sam", "list", "--json", *common]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["sam_id"], listed["status"], listed["reader_serial"]) == (
        "SAM-0001", "active", "RDR-1")
    store = ControlStore(tmp_path / "control")
    try:
        assert SamRegistry(store).get("SAM-0001").public_key_pem.encode() == \
            image.public_key_pem()
    finally:
        store.close()
