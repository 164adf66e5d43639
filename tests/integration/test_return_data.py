"""Data balikan against a real server: acks after commit, duplicates, rejections, obligations."""

from __future__ import annotations

import time

import pytest

from nikgate.clients import (
    Connection,
    NikgateClient,
    ReturnDataSender,
    ReturnRecord,
)
from nikgate.server.access.admin import Admin

from .conftest import full_grant

KINDS = ("bank_cif", "account_number")


def duty(**changes):
    ops = ("verify", "verify_batch", "lookup", "return_data")
    base = full_grant("bank-a")
    return full_grant("bank-a", operations=ops, fields=base.fields,
                      return_data_kinds=KINDS, return_deadline_days=30, **changes)


@pytest.fixture
def conn(server, certs, tmp_path) -> Connection:
    (tmp_path / "ca.crt").write_bytes(certs.ca)
    (tmp_path / "c.key").write_bytes(certs.good[0])
    (tmp_path / "c.crt").write_bytes(certs.good[1])
    return Connection(f"127.0.0.1:{server.port}", tmp_path / "ca.crt", tmp_path / "c.crt",
                      tmp_path / "c.key")


@pytest.fixture
def admin(server):
    a = Admin(server.running.store)
    a.set_grant(duty())
    time.sleep(0.3)
    yield a
    a.set_grant(full_grant("bank-a"))
    time.sleep(0.3)


def access(conn, niks) -> None:
    """Verify the NIKs, so bank-a owes return data for them; wait for the ledger."""
    with NikgateClient(conn) as c:
        for i in range(0, len(niks), 1000):
            chunk = niks[i:i + 1000]
            r = c.verify_batch(chunk, {"NAMA_LGKP": [None] * len(chunk)})
            assert set(r.message.status) == {1}
    time.sleep(0.5)  # ledger flush every 0.1 s in tests


def test_records_are_acked_stored_and_duplicates_stored_once(server, conn, admin, index):
    niks = index.sample_niks(300, start=3300000000000000)
    access(conn, niks)
    records = [ReturnRecord(f"smoke-{i}", nik, "bank_cif", f"CIF{i:06d}")
               for i, nik in enumerate(niks)]
    first = ReturnDataSender(conn, batch_size=64).send(records)
    assert (first.stored, first.duplicates, first.rejected) == (300, 0, [])
    assert first.receipts == first.batches == 5
    again = ReturnDataSender(conn, batch_size=100).send(records)
    assert (again.stored, again.duplicates, again.rejected) == (0, 300, [])
    store = server.running.returns
    got = store.get("bank-a", "smoke-7")
    assert (got.nik, got.kind, got.value) == (niks[7], "bank_cif", "CIF000007")
    assert sum(1 for r in store.records("bank-a") if r.record_id.startswith("smoke-")) == 300
