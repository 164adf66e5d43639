"""`nikgate demo`: the embedded default.

First run: 1M synthetic records, the index, a development CA with a server certificate and
certificates for sample institutions (a bank, a telco, the portal, a card-reader user, an
operator), a receipt signing key and a config. Later runs reuse what exists. Then it
starts the web service on 127.0.0.1 and the JSON gateway in front of it (nikgate gateway,
HTTPS on --gateway-port), writes DIR/connection.json and prints calls to paste (curl too).
The card reader's demo (DIR/cards/): emulated KTP-el chips for a current card, a replaced
one and a deceased person's, and a SAM for card-reader-demo, registered and activated for
the reader DEMO_READER, with a `nikgate card-reader verify` command to paste.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import shlex
import shutil
import time
from pathlib import Path
from typing import Any

from nikgate.methods import rpc

from .output import table

DEFAULT_DIR = "var/demo"
INSTITUTIONS = (
    ("bank-demo", "Bank Demo (web service)", "bank"),
    ("telco-demo", "Telco Demo (SIM registration)", "telco"),
    ("portal", "Web portal users", "portal"),
    ("card-reader-demo", "Card reader user", "card_reader"),
)
OPERATOR = "ops-demo"
GATEWAY = "json"                      # the JSON gateway's adapter certificate (kind gateway)
CARD_READER = "card-reader-demo"
DEMO_SAM_PREFIX = "SAM-DEMO-"         # SAM-DEMO-0001, then -0002 if it is replaced
DEMO_READER = "DEMO-READER-0001"
# Which records get a demo card: the record's (card status, life status).
DEMO_CARDS = (("current", "AKTIF", "HIDUP"), ("replaced", "DIGANTI", "HIDUP"),
              ("deceased", "AKTIF", "MATI"))


def register(sub) -> None:
    p = sub.add_parser("demo", help="make demo data, an index and certificates; serve them")
    p.add_argument("--dir", default=DEFAULT_DIR, help=f"working directory (default {DEFAULT_DIR})")
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--port", type=int, default=50051, help="0 lets the OS pick")
    p.add_argument("--workers", type=int, default=0, help="worker processes (0 = CPU count)")
    p.add_argument("--portal-port", type=int, default=9443,
                   help="the web portal's HTTPS port (default 9443; 0 lets the OS pick)")
    p.add_argument("--gateway-port", type=int, default=8443,
                   help="the JSON gateway's HTTPS port (default 8443; 0 lets the OS pick)")
    p.add_argument("--no-serve", action="store_true", help="prepare and verify, do not serve")
    p.set_defaults(func=_demo)


def _data_and_index(root: Path, records: int, seed: int) -> Path:
    from nikgate.engine.build import build_index
    from nikgate.progress import terminal_progress
    from nikgate.synth import write_export

    export = root / f"warehouse-{records}-{seed}.csv"
    index_dir = root / "index"
    if not export.exists():
        print(f"generating {records:,} synthetic records -> {export}")
        t = time.perf_counter()
        tmp = export.with_suffix(".partial")
        with terminal_progress("generating", records) as progress:
            write_export(tmp, records, seed, progress=progress)
        tmp.rename(export)
        print(f"  done in {time.perf_counter() - t:.1f} s")
    if (index_dir / "current").exists() and not _index_usable(index_dir):
        print("the index was written by another nikgate version; rebuilding it")
        shutil.rmtree(index_dir)
    if not (index_dir / "current").exists():
        print(f"building the index -> {index_dir}")
        with terminal_progress("reading export", export.stat().st_size, "bytes") as progress:
            s = build_index(export, index_dir, rejects_path=root / "rejects.csv",
                            progress=progress).summary()
        print(f"  stored {s['stored']:,} of {s['rows_read']:,} rows in {s['seconds']} s "
              f"({s['rows_per_second']:,} rows/s, {s['bytes_per_record']} bytes/record, "
              f"{s['rejected']} rejected)")
    return index_dir


def _index_usable(index_dir: Path) -> bool:
    from nikgate.engine import NikIndex
    from nikgate.errors import IndexFormatError

    try:
        NikIndex.open(index_dir).close()
    except IndexFormatError:
        return False
    return True


def _pki(root: Path) -> dict[str, dict[str, str]]:
    from nikgate.server.pki import ca as pki

    pki_dir = root / "pki"
    layout = pki.Layout(pki_dir)
    if not layout.ca_cert.exists():
        print(f"making a development CA and certificates -> {pki_dir}")
        ca = pki.init_ca(pki_dir, name="nikgate demo CA")
        pki.issue_server(ca)
        for ident, _, _ in INSTITUTIONS:
            pki.issue_client(ca, ident)
        pki.issue_client(ca, OPERATOR, kind="operator")
    if not layout.client_paths("gateway", GATEWAY)[0].exists():  # demos made before it
        pki.issue_client(pki.load_ca(pki_dir), GATEWAY, kind="gateway")
    # The demo is its own CA machine and has no cron: re-sign the CRL on every start so a
    # demo made days ago does not serve (and `nikgate doctor` warn about) a stale one.
    pki.refresh_crl(pki.load_ca(pki_dir))
    out = {}
    for ident, _, _ in INSTITUTIONS:
        cert, key = layout.client_paths("institution", ident)
        out[ident] = {"cert": str(cert.relative_to(root)), "key": str(key.relative_to(root))}
    cert, key = layout.client_paths("operator", OPERATOR)
    out[OPERATOR] = {"cert": str(cert.relative_to(root)), "key": str(key.relative_to(root))}
    return out


def _grants(root: Path) -> None:
    """Demo hak akses: the bank may verify and look up; the telco only verifies (SIM
    registration); the portal verifies and looks up a few fields; the card-reader user
    verifies what the chip holds. One-year PKS terms, generous quotas."""
    import datetime as dt

    from nikgate.server.access.admin import Admin
    from nikgate.server.access.grants import Grant
    from nikgate.server.access.store import ControlStore

    control = root / "control"
    fresh = not control.exists()
    if fresh:
        print(f"granting demo access rights -> {control}")
    store = ControlStore(control)
    admin = Admin(store, "demo", str(root / "audit"), str(root / "audit-nik.key"))
    today = dt.date.today()
    term: dict[str, Any] = {"valid_from": (today - dt.timedelta(days=1)).isoformat(),
            "valid_until": (today + dt.timedelta(days=365)).isoformat()}
    identity = ("NAMA_LGKP", "TGL_LHR", "TMPT_LHR", "JENIS_KLMIN", "NAMA_LGKP_IBU", "ALAMAT",
                "NO_KK")
    grants = {
        "bank-demo": Grant("bank-demo", ("verify", "verify_batch", "lookup", "return_data"),
                           {"verify": identity, "verify_batch": identity,
                            "lookup": ("NAMA_LGKP", "TGL_LHR", "ALAMAT", "KEC_NAME",
                                       "KAB_NAME", "PROP_NAME")},
                           purpose="customer due diligence (KYC)", daily_quota=2_000_000_000,
                           return_data_kinds=("bank_cif", "account_number", "card_number"),
                           return_deadline_days=30, **term),
        "telco-demo": Grant("telco-demo", ("verify", "verify_batch", "return_data"),
                            {"verify": ("NAMA_LGKP", "TGL_LHR", "NO_KK"),
                             "verify_batch": ("NAMA_LGKP", "TGL_LHR", "NO_KK")},
                            purpose="prepaid SIM registration", daily_quota=2_000_000_000,
                            return_data_kinds=("msisdn", "customer_id"),
                            return_deadline_days=30, **term),
        "portal": Grant("portal", ("verify", "lookup"),
                        {"verify": identity, "lookup": ("NAMA_LGKP", "TGL_LHR")},
                        channels=("portal", "web_service"), purpose="public service",
                        daily_quota=1_000_000, rate_per_second=200, **term),
        "card-reader-demo": Grant("card-reader-demo", ("verify", "card_verify"),
                                  {"verify": identity, "card_verify": identity},
                                  channels=("card_reader", "web_service"),
                                  purpose="branch office identity check",
                                  daily_quota=1_000_000, **term),
    }
    try:
        if fresh:
            for ident, name, kind in INSTITUTIONS:
                admin.add_institution(ident, name, kind)
                admin.set_grant(grants[ident])
            return
        # A demo made before data balikan existed: give its banks and telcos that duty.
        stored = store.snapshot()[2]
        for ident, grant in grants.items():
            old = stored.get(ident)
            if old is not None and grant.return_data_kinds and not old.return_data_kinds:
                admin.set_grant(grant)
    finally:
        store.close()


def _config(root: Path, port: int, workers: int) -> Path:
    from nikgate.server.receipts import ensure_signing_key

    ensure_signing_key(root / "receipt-signing.key")
    _grants(root)
    path = root / "nikgate.toml"
    if path.exists() and "[return_data]" not in path.read_text():
        with path.open("a") as f:  # made before data balikan existed
            f.write('\n[return_data]\nstore = "returns"\n')
    if path.exists() and "[gateway]" not in path.read_text():
        with path.open("a") as f:  # made before the JSON gateway existed
            f.write(GATEWAY_SECTION)
    if not path.exists():
        path.write_text(f"""# nikgate demo configuration (docs/configuration.md); paths are relative to this file.
[server]
address = "127.0.0.1:{port}"
workers = {workers}

[index]
path = "index"

[tls]
ca = "pki/ca/ca.crt"
cert = "pki/server/server.crt"
key = "pki/server/server.key"
crl = "pki/ca/crl.pem"

[receipts]
signing_key = "receipt-signing.key"

[access]
store = "control"

[audit]
directory = "audit"
key = "audit-nik.key"

[return_data]
store = "returns"

[metrics]
address = "127.0.0.1:0"
""" + GATEWAY_SECTION)
    return path


GATEWAY_SECTION = f"""
[gateway]
adapter_cert = "pki/issued/{GATEWAY}.gateway.crt"
adapter_key = "pki/issued/{GATEWAY}.gateway.key"
"""


def _sample(index_dir: Path, seed: int) -> tuple[str, dict]:
    from nikgate.engine import NikIndex

    with NikIndex.open(index_dir) as idx:
        print(f"index {idx.generation.name}: {idx.record_count:,} records")
        rng = random.Random(seed)
        niks = idx.sample_niks(1, start=rng.randrange(11 * 10**14, 95 * 10**14)) or \
            idx.sample_niks(1)
        nik = niks[0]
        person = idx.lookup(nik, ["NAMA_LGKP", "TGL_LHR", "TMPT_LHR"])
        assert person is not None
        name, born, birthplace = (person[f] or "" for f in ("NAMA_LGKP", "TGL_LHR", "TMPT_LHR"))
        claimed = name.title()  # a clerk's typing of the stored name
        result = idx.verify(nik, {"NAMA_LGKP": claimed, "TGL_LHR": born,
                                  "TMPT_LHR": "Kota " + birthplace.title()})
        print(f"\nsample verification (offline) of NIK {nik} ({result.life_status}, card "
              f"{result.card_status}):")
        print(table([(r.field.name, r.outcome.name, str(r.score), str(r.threshold))
                     for r in result.fields], ("FIELD", "RESULT", "SCORE", "THRESHOLD")))
    return nik, {"NAMA_LGKP": claimed, "TGL_LHR": born}


def _cards(root: Path, index_dir: Path, seed: int) -> dict[str, Path]:
    """Demo cards (DIR/cards/NAME.card.json) of records found by scanning a sample of the
    index, and the SAM for card-reader-demo (sam.json, its secret in sam-secret), which is
    registered and activated for DEMO_READER in the control store. Made once."""
    import secrets

    from nikgate.card import (
        issue_sam,
        load_or_create_card_master_key,
        load_or_create_document_signer,
    )
    from nikgate.engine import NikIndex
    from nikgate.server.access.admin import Admin
    from nikgate.server.access.store import ControlStore

    from .card import chip_record, make_card

    cards_dir, keys = root / "cards", root / "pki" / "ca"
    cards_dir.mkdir(exist_ok=True)
    made = {name: cards_dir / f"{name}.card.json" for name, _, _ in DEMO_CARDS}
    if not all(p.exists() for p in made.values()):
        print(f"making demo KTP-el cards -> {cards_dir}")
        with NikIndex.open(index_dir) as idx:
            rng = random.Random(seed)
            start = rng.randrange(11 * 10**14, 95 * 10**14)
            for _ in range(20):   # a few thousand records hold every kind in synthetic data
                niks = idx.sample_niks(2000, start) or idx.sample_niks(2000)
                found = idx.lookup_batch(niks, ["STATUS_KTP", "STATUS_HIDUP"])
                kinds: dict[tuple[str | None, str | None], str] = {}
                for i, n in enumerate(niks):
                    item = found.item(i)
                    if item is not None:
                        kinds.setdefault((item["STATUS_KTP"], item["STATUS_HIDUP"]), n)
                for name, card_status, life in DEMO_CARDS:
                    nik = kinds.get((card_status, life))
                    if nik is not None and not made[name].exists():
                        record = chip_record(idx, nik)
                        assert record is not None
                        make_card(record, keys).save(made[name])
                        print(f"  {name}: NIK {nik} (record: card {card_status}, person "
                              f"{life})")
                if all(p.exists() for p in made.values()) or len(niks) < 2000:
                    break
                start = int(niks[-1]) + 1
    sam_path, secret_path = cards_dir / "sam.json", cards_dir / "sam-secret"
    if not sam_path.exists():
        # A new SAM each time sam.json is missing (deleted, e.g. after locking it): SAM ids
        # are never reused, and the one it replaces on the demo reader is revoked.
        store = ControlStore(root / "control")
        try:
            admin = Admin(store, "demo", str(root / "audit"), str(root / "audit-nik.key"))
            known = admin.list_sams()
            sam_id = next(f"{DEMO_SAM_PREFIX}{n:04d}" for n in itertools.count(1)
                          if f"{DEMO_SAM_PREFIX}{n:04d}" not in {s.sam_id for s in known})
            for old in known:
                if old.status == "active" and old.reader_serial == DEMO_READER:
                    admin.revoke_sam(old.sam_id, f"replaced by {sam_id} (demo)")
            secret = secrets.token_urlsafe(12)
            signer = load_or_create_document_signer(keys)
            sam = issue_sam(CARD_READER, load_or_create_card_master_key(keys),
                            signer.public_key(), secret, sam_id)
            fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secret + "\n")
            sam.save(sam_path)
            admin.register_sam(sam_id, CARD_READER, sam.public_key_pem())
            admin.activate_sam(sam_id, DEMO_READER)
        finally:
            store.close()
        print(f"  SAM {sam_id} for {CARD_READER}, active on reader {DEMO_READER}: "
              f"{sam_path} (secret in {secret_path})")
    return {name: p for name, p in made.items() if p.exists()}


def _print_card_commands(root: Path, conn_path: Path, cards: dict[str, Path]) -> None:
    if "current" not in cards:
        return
    cards_dir = root / "cards"
    base = (f"--sam-reader sim:{cards_dir / 'sam.json'} --sam-secret-file "
            f"{cards_dir / 'sam-secret'} --connection {conn_path} --as {CARD_READER} "
            f"--reader-serial {DEMO_READER}")
    print("\nthe card reader (KTP-el + SAM emulated in-process; docs/card-reader.md):")
    print(f"  .venv/bin/nikgate card-reader verify --reader sim:{cards['current']} {base}")
    for name, extra in (("replaced", ""), ("deceased", ""), ("current", " --finger impostor")):
        if name in cards:
            print(f"  .venv/bin/nikgate card-reader verify --reader sim:{cards[name]} "
                  f"{base}{extra}")
    print(f"  .venv/bin/nikgate card-reader read --reader sim:{cards['current']} "
          f"--sam-reader sim:{cards_dir / 'sam.json'} --sam-secret-file "
          f"{cards_dir / 'sam-secret'}")


def _demo(args) -> int:
    from nikgate.gateway import launch
    from nikgate.portal import demo as portal_demo
    from nikgate.server.config import load_config
    from nikgate.server.receipts import public_key_path
    from nikgate.server.supervisor import serve
    from nikgate.serving import stop_process

    root = Path(args.dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    index_dir = _data_and_index(root, args.records, args.seed)
    certs = _pki(root)
    config_path = _config(root, args.port, args.workers)
    nik, claims = _sample(index_dir, args.seed)
    cards = _cards(root, index_dir, args.seed)
    portal_logins = portal_demo.prepare(root, config_path)
    if args.no_serve:
        return 0
    config = load_config(config_path).with_overrides(
        server={"address": f"127.0.0.1:{args.port}", "workers": args.workers})

    def ready(host: str, port: int, metrics_port: int | None) -> None:
        connection = {
            "address": f"{host}:{port}",
            "server_name": "localhost",
            "ca": "pki/ca/ca.crt",
            "receipt_public_key": str(public_key_path(config.receipts.signing_key)
                                      .relative_to(root)),
            "metrics": f"http://{host}:{metrics_port}/metrics" if metrics_port else None,
            "institutions": certs,
        }
        conn_path = root / "connection.json"
        conn_path.write_text(json.dumps(connection, indent=2) + "\n")
        bank = certs["bank-demo"]
        body = json.dumps({"nik": nik, "claims": claims})
        print(f"\nnikgate is serving on {host}:{port} (mTLS); connection details: {conn_path}")
        if metrics_port:
            print(f"metrics: http://{host}:{metrics_port}/metrics")
        print("\npaste one of these in another terminal:")
        print(f"  .venv/bin/nikgate verify --connection {conn_path} --as bank-demo --nik {nik} "
              f"--name {shlex.quote(claims['NAMA_LGKP'])} --birth-date {claims['TGL_LHR']}")
        print(f"  grpcurl -cacert {root / 'pki/ca/ca.crt'} -cert {root / bank['cert']} "
              f"-key {root / bank['key']} -d {shlex.quote(body)} localhost:{port} "
              + rpc("Verification", "Verify").path.lstrip("/"))
        _print_card_commands(root, conn_path, cards)
        try:
            gw_process, gw_port = launch.start(config_path, f"{host}:{port}",
                                               f"127.0.0.1:{args.gateway_port}",
                                               root / "gateway.port")
        except RuntimeError as e:   # e.g. the port is taken: gRPC serves on regardless
            print(f"\n{e}: is port {args.gateway_port} in use? (--gateway-port 0 picks one)")
        else:
            gateway.append(gw_process)
            connection["gateway"] = f"https://localhost:{gw_port}"   # for nikgate bench
            conn_path.write_text(json.dumps(connection, indent=2) + "\n")
            print(f"\nthe JSON gateway (docs/json-api.md) is serving on https://localhost:"
                  f"{gw_port} (mTLS); OpenAPI at /v1/openapi.json:")
            print("  " + launch.curl_command(f"https://localhost:{gw_port}/v1/verify",
                                             root / "pki/ca/ca.crt", root / bank["cert"],
                                             root / bank["key"], body))
        try:
            portal_process, portal_port = portal_demo.start(config_path, f"{host}:{port}",
                                                            args.portal_port, root)
        except RuntimeError as e:   # e.g. the port is taken: gRPC serves on regardless
            print(f"\n{e}: is port {args.portal_port} in use? (--portal-port 0 picks one)")
        else:
            portal.append(portal_process)
            portal_demo.print_login(root, portal_port, portal_logins)
        print("\nCtrl-C stops the server (health goes NOT_SERVING, calls drain).", flush=True)

    gateway: list = []
    portal: list = []
    try:
        return serve(config, on_ready=ready)
    finally:
        for process in gateway:
            stop_process(process)
        for process in portal:
            stop_process(process)
