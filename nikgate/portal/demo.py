"""The portal's part of `nikgate demo`: its certificates, a demo hospital that uses it, the
[portal] config section, two ready accounts, and the portal started as its own process.

Made once in DIR: the adapter certificate (kind portal, id portal-web), an HTTPS
certificate for localhost (pki/portal-https/), institution rsud-demo with a portal grant,
and the accounts petugas@rsud-demo.go.id (institution staff) and operator@dukcapil.go.id
(Dukcapil operator ops-demo), whose password and TOTP key are in DIR/portal/demo-login.json
(mode 0600) and printed: a demo needs a login to paste. Real accounts come from
`nikgate portal user add`, with a one-time link.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ADAPTER = "portal-web"
INSTITUTION = ("rsud-demo", "RSUD Demo (web portal)", "hospital")
OPERATOR = "ops-demo"
USERS = (("petugas@rsud-demo.go.id", INSTITUTION[0], "viewer"),
         ("operator@dukcapil.go.id", OPERATOR, "operator"))
SECTION = f"""
[portal]
state = "portal"
https_cert = "pki/portal-https/server.crt"
https_key = "pki/portal-https/server.key"
client_cert = "pki/issued/{ADAPTER}.portal.crt"
client_key = "pki/issued/{ADAPTER}.portal.key"
"""

_STALE = f'service_operator = "{OPERATOR}"\n'


def prepare(root: Path, config_path: Path) -> dict[str, Any]:
    """Everything the demo portal needs, made once; returns the demo logins."""
    from nikgate.server.pki import ca as pki

    layout = pki.Layout(root / "pki")
    if not layout.client_paths("portal", ADAPTER)[0].exists():
        pki.issue_client(pki.load_ca(root / "pki"), ADAPTER, kind="portal")
    https = root / "pki" / "portal-https"
    if not (https / "server.crt").exists():
        issued = pki.issue_server(pki.load_ca(root / "pki"), write=False)
        assert issued.key_pem is not None
        https.mkdir(parents=True, exist_ok=True)
        pki.write_atomic(https / "server.key", issued.key_pem, 0o600)
        pki.write_atomic(https / "server.crt", issued.cert_pem)
    _institution(root)
    text = config_path.read_text()
    if "[portal]" not in text:
        with config_path.open("a") as f:
            f.write(SECTION)
    elif _STALE in text:   # written by an older demo; the portal no longer reads it
        config_path.write_text(text.replace(_STALE, ""))
    return _accounts(root)


def _institution(root: Path) -> None:
    from nikgate.server.access.admin import Admin
    from nikgate.server.access.grants import Grant
    from nikgate.server.access.store import ControlStore

    store = ControlStore(root / "control")
    try:
        if INSTITUTION[0] in store.snapshot()[2]:
            return
        admin = Admin(store, "demo", str(root / "audit"), str(root / "audit-nik.key"))
        today = dt.date.today()
        identity = ("NAMA_LGKP", "TGL_LHR", "TMPT_LHR", "JENIS_KLMIN", "NAMA_LGKP_IBU",
                    "ALAMAT", "NO_KK")
        admin.add_institution(*INSTITUTION)
        admin.set_grant(Grant(
            INSTITUTION[0], ("verify", "verify_batch", "lookup", "return_data"),
            {"verify": identity, "verify_batch": identity,
             "lookup": ("NAMA_LGKP", "TGL_LHR", "JENIS_KLMIN", "KEC_NAME", "KAB_NAME")},
            channels=("portal",), purpose="patient registration", daily_quota=2_000_000_000,
            return_data_kinds=("patient_id",), return_deadline_days=30,
            valid_from=(today - dt.timedelta(days=1)).isoformat(),
            valid_until=(today + dt.timedelta(days=365)).isoformat()))
        print(f"  {INSTITUTION[0]}: a hospital using the web portal (grant channel portal)")
    finally:
        store.close()


def _accounts(root: Path) -> dict[str, Any]:
    import secrets

    from .security import hash_password, new_totp_secret
    from .store import PortalStore

    login_path = root / "portal" / "demo-login.json"
    store = PortalStore(root / "portal")
    try:
        if login_path.exists() and all(store.user_by_email(e) for e, _, _ in USERS):
            return json.loads(login_path.read_text())
        logins: dict[str, Any] = {}
        for email, inst, role in USERS:
            old = store.user_by_email(email)
            user, token = (old, store.new_link(old.id, 1)) if old else store.add_user(
                email, inst, role, "demo", 1)
            password, secret = secrets.token_urlsafe(12), new_totp_secret()
            store.set_password(token, hash_password(password), secret)
            store.confirm_totp(user.id)
            logins[role] = {"email": email, "password": password, "totp": secret}
        fd = os.open(login_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(logins, f, indent=2)
        return logins
    finally:
        store.close()


def start(config: Path, upstream: str, port: int, root: Path,
          timeout: float = 30.0) -> tuple[subprocess.Popen, int]:
    """`nikgate portal --config CONFIG` against `upstream` on 127.0.0.1:`port`; the
    process and its bound port once it listens (RuntimeError if it does not)."""
    port_file = root / "portal.port"
    port_file.unlink(missing_ok=True)
    env = {**os.environ, "NIKGATE_PORTAL_NIKGATE_ADDRESS": upstream,
           "NIKGATE_PORTAL_ADDRESS": f"127.0.0.1:{port}",
           "NIKGATE_PORTAL_PORT_FILE": str(port_file)}
    log = (root / "portal.log").open("ab")
    process = subprocess.Popen([sys.executable, "-m", "nikgate", "portal", "--config",
                                str(config)], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while not (port_file.exists() and port_file.read_text().strip()):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the web portal did not start (exit {process.poll()}; "
                               f"see {root / 'portal.log'})")
        time.sleep(0.05)
    return process, int(port_file.read_text())


def print_login(root: Path, port: int, logins: dict[str, Any]) -> None:
    login = root / "portal" / "demo-login.json"
    print(f"\nthe web portal (docs/portal.md) is serving on https://localhost:{port}/ "
          f"(its certificate is from the demo CA {root / 'pki/ca/ca.crt'}; log "
          f"{root / 'portal.log'}). Demo logins (also in {login}):")
    for role, what in (("viewer", "hospital staff of rsud-demo"),
                       ("operator", "Dukcapil operator")):
        entry = logins[role]
        print(f"  {what}: {entry['email']} / {entry['password']}, TOTP key {entry['totp']}")
    print("  the current code (or add the key to an authenticator app):")
    print(f"  .venv/bin/python -c \"import json,pyotp; print(pyotp.TOTP(json.load(open("
          f"'{login}'))['viewer']['totp']).now())\"")
