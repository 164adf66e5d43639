"""Return data once across nodes; card-reader challenges used once across nodes."""

from __future__ import annotations

import threading

import pytest

from nikgate import errors
from nikgate.clients import NikgateClient, ReturnDataSender, ReturnRecord
from nikgate.server.access.sams import SamRegistry

from ..conftest import duty_grant
from .conftest import pg_rows


def test_return_data_sent_to_two_nodes_is_stored_once(nodes, conn_to, index, cluster_dsn):
    from nikgate.server.access.admin import Admin

    n1, n2 = nodes("n1", "n2")
    admin = Admin(n1.running.store)
    admin.add_institution("bank-a", "Bank A", "bank")
    admin.set_grant(duty_grant())
    n2.running.policy.refresh(force=True)
    niks = index.sample_niks(500, start=3300000000000000)
    with NikgateClient(conn_to(n1.port)) as c:
        c.verify_batch(niks, {"NAMA_LGKP": [None] * len(niks)})
    n1.running.ledger.flush()           # the access reaches PostgreSQL's ledger now
    assert n2.running.returns.first_accessed("bank-a", int(niks[0]))
    records = [ReturnRecord(f"r-{i}", nik, "bank_cif", f"CIF{i:06d}")
               for i, nik in enumerate(niks)]
    reports = {}

    def send(node) -> None:
        reports[node] = ReturnDataSender(conn_to(node.port), batch_size=50).send(records)
    threads = [threading.Thread(target=send, args=(n,)) for n in (n1, n2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    a, b = reports[n1], reports[n2]
    assert a.rejected == b.rejected == []
    assert a.stored + b.stored == 500 and a.duplicates + b.duplicates == 500
    assert pg_rows(cluster_dsn, "SELECT count(*) FROM return_records") == [(500,)]
    got = n2.running.returns.get("bank-a", "r-7")
    assert (got.nik, got.value) == (niks[7], "CIF000007")
    # the same id with other content: a conflict, whichever node hears it
    other = [ReturnRecord("r-7", niks[7], "bank_cif", "CHANGED")]
    report = ReturnDataSender(conn_to(n2.port)).send(other)
    assert report.stored == 0 and len(report.rejected) == 1
    # the obligations ledger sees the received data
    ob = n1.running.returns.ledger("bank-a")
    assert sum(1 for _nik, _first, got in ob if got is not None) == 500


def test_a_card_reader_challenge_is_used_once_across_nodes(nodes):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from nikgate.server.access.admin import Admin

    n1, n2 = nodes("n1", "n2")
    admin = Admin(n1.running.store)
    admin.add_institution("bank-a", "Bank A", "bank")
    pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    admin.register_sam("SAM-1", "bank-a", pem)
    Admin(n2.running.store).activate_sam("SAM-1", "READER-1")   # through the other node
    r1, r2 = SamRegistry(n1.running.store), SamRegistry(n2.running.store)
    assert r2.for_call("bank-a", "SAM-1", "READER-1").status == "active"
    challenge = r1.issue_challenge("bank-a", "SAM-1", "READER-1")
    assert r2.outstanding("SAM-1") == 1
    r2.consume_challenge("bank-a", "SAM-1", "READER-1", challenge)
    with pytest.raises(errors.PermissionDenied, match="already used"):
        r1.consume_challenge("bank-a", "SAM-1", "READER-1", challenge)
    for _ in range(12):      # at most 8 outstanding per SAM, across nodes
        (r1 if _ % 2 else r2).issue_challenge("bank-a", "SAM-1", "READER-1")
    assert r1.outstanding("SAM-1") == 8
    admin.revoke_sam("SAM-1", "test: reader stolen")
    assert r2.outstanding("SAM-1") == 0
    with pytest.raises(errors.PermissionDenied, match="revoked"):
        r2.for_call("bank-a", "SAM-1", "READER-1")
