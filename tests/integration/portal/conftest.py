"""The portal's browser tests: a real nikgate server (in a thread, real certificates and
LMDB), the real portal (`nikgate portal`, its own process, its log captured) and Debian's
chromium driven by Playwright, all on 127.0.0.1.

Accounts are made as an operator would (`nikgate portal user add`) and set up through the
browser: the one-time link, a password, the TOTP enrolment (codes computed with pyotp from
the key the enrolment page shows).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
import pytest

from nikgate.server.access.admin import Admin
from nikgate.server.access.grants import Grant
from nikgate.server.access.store import ControlStore
from nikgate.server.pki import ca as pki
from tests.integration.conftest import ServerThread

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]
INSTITUTION = "rsud-a"          # a district hospital using the portal
NO_PORTAL = "bank-a"            # an institution whose grant lacks the portal channel
OPERATOR = "ops"
PASSWORD = "kata-sandi-yang-panjang-1"
IDENTITY = ("NAMA_LGKP", "TGL_LHR", "TMPT_LHR", "JENIS_KLMIN", "NAMA_LGKP_IBU", "ALAMAT")


def portal_grant(**changes) -> Grant:
    today = dt.date.today()
    base = dict(
        institution=INSTITUTION, operations=("verify", "verify_batch", "lookup", "return_data"),
        fields={"verify": IDENTITY, "verify_batch": IDENTITY,
                "lookup": ("NAMA_LGKP", "TGL_LHR", "KEC_NAME")},
        channels=("portal",), purpose="patient registration", daily_quota=500_000,
        return_data_kinds=("patient_id",), return_deadline_days=30,
        valid_from=(today - dt.timedelta(days=1)).isoformat(),
        valid_until=(today + dt.timedelta(days=365)).isoformat())
    return Grant(**{**base, **changes})


def nikgate_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("nikgate")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "nikgate"]


@dataclass
class Stack:
    work: Path
    config: Path
    url: str
    server: ServerThread
    process: subprocess.Popen
    log: Path
    store_dir: Path
    totp: dict[str, str] = field(default_factory=dict)   # email -> TOTP secret

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*nikgate_cmd(), "portal", "user", "--config", str(self.config),
                               *args], capture_output=True, text=True, timeout=60)

    def add_user(self, email: str, role: str = "viewer",
                 institution: str = INSTITUTION) -> str:
        """Add a user with the CLI; returns the set-password link's path."""
        done = self.cli("add", "--institution", institution, "--email", email, "--role", role)
        assert done.returncode == 0, done.stderr
        return re.search(r"https://\S+(/sandi/\S+)", done.stdout).group(1)

    def code(self, email: str) -> str:
        """A fresh TOTP code (waits for the next step if this one was used)."""
        totp = pyotp.TOTP(self.totp[email])
        step = int(time.time() // 30)
        last = self.totp.get(email + ":step")
        if last is not None and int(last) >= step:
            time.sleep(30 - time.time() % 30 + 0.2)
            step = int(time.time() // 30)
        self.totp[email + ":step"] = str(step)
        return totp.at(time.time())

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def write_config(work: Path, server_port: int, layout: pki.Layout, **portal: object) -> Path:
    values = {
        "address": "127.0.0.1:0", "state": str(work / "state"),
        "https_cert": str(work / "https" / "server.crt"),
        "https_key": str(work / "https" / "server.key"),
        "nikgate_address": f"127.0.0.1:{server_port}",
        "client_cert": str(layout.client_paths("portal", "portal-web")[0]),
        "client_key": str(layout.client_paths("portal", "portal-web")[1]),
        "port_file": str(work / "portal.port"),
        "signin_per_minute": 60, **portal}
    lines = ["[tls]", f'ca = "{layout.ca_cert}"', "", "[portal]"]
    for k, v in values.items():
        lines.append(f"{k} = {v}" if isinstance(v, (int, float)) else f'{k} = "{v}"')
    path = work / "portal.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def start_portal(config: Path, work: Path) -> tuple[subprocess.Popen, str, Path]:
    log = work / "portal.log"
    port_file = work / "portal.port"
    port_file.unlink(missing_ok=True)
    proc = subprocess.Popen([*nikgate_cmd(), "portal", "--config", str(config)],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the portal did not start:\n{log.read_text()}")
        time.sleep(0.05)
    return proc, f"https://127.0.0.1:{port_file.read_text().strip()}", log


def make_stack(certs, server_config, tmp_path_factory, **portal: object):
    work = tmp_path_factory.mktemp("portal")
    ca = pki.load_ca(certs.pki_dir)
    layout = pki.Layout(certs.pki_dir)
    if not layout.client_paths("portal", "portal-web")[0].exists():
        pki.issue_client(ca, "portal-web", kind="portal")
    https = pki.issue_server(ca, write=False)
    (work / "https").mkdir()
    (work / "https" / "server.crt").write_bytes(https.cert_pem)
    (work / "https" / "server.key").write_bytes(https.key_pem)
    store = ControlStore(work / "control")
    admin = Admin(store)
    admin.add_institution(INSTITUTION, "RSUD A", "hospital")
    admin.set_grant(portal_grant())
    from tests.integration.conftest import full_grant
    admin.add_institution(NO_PORTAL, "Bank A", "bank")
    admin.set_grant(full_grant(NO_PORTAL))
    store.close()
    config = server_config.with_overrides(
        access={"store": str(work / "control"), "scraping_guard": False},
        audit={"directory": str(work / "audit"), "key": str(work / "audit.key")},
        return_data={"store": str(work / "returns")})
    server = ServerThread(config)
    path = write_config(work, server.port, layout, **portal)
    proc, url, log = start_portal(path, work)
    return Stack(work, path, url, server, proc, log, work / "state")


def stop_stack(stack: Stack) -> None:
    stack.process.terminate()
    try:
        stack.process.wait(10)
    except subprocess.TimeoutExpired:
        stack.process.kill()
    stack.server.stop()


@pytest.fixture(scope="package")
def stack(certs, server_config, tmp_path_factory):
    s = make_stack(certs, server_config, tmp_path_factory)
    yield s
    stop_stack(s)


@pytest.fixture(scope="package")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; "
                    "`make test` does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(ignore_https_errors=True, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    context.close()


def enrol(stack: Stack, page, link_path: str, email: str) -> None:
    """Set the password from the link and enrol TOTP in the browser; ends signed in."""
    page.goto(stack.url + link_path)
    page.get_by_label("Kata sandi", exact=True).fill(PASSWORD)
    page.get_by_label("Ulangi kata sandi").fill(PASSWORD)
    page.get_by_role("button", name="Lanjut").click()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    stack.totp[email] = secret
    page.get_by_label("Kode autentikator (6 angka)").fill(stack.code(email))
    page.get_by_role("button", name="Lanjut").click()


def sign_in(stack: Stack, page, email: str, password: str = PASSWORD) -> None:
    code = stack.code(email)     # first: it may wait for the next TOTP step
    page.goto(stack.url + "/masuk")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Kata sandi").fill(password)
    page.get_by_role("button", name="Masuk").click()
    page.get_by_label("Kode autentikator (6 angka)").fill(code)
    page.get_by_role("button", name="Lanjut").click()


@pytest.fixture(scope="package")
def accounts(stack, browser):
    """A viewer of rsud-a and an operator, set up through the browser once."""
    made = {}
    for email, role, inst in (("petugas@rsud-a.go.id", "viewer", INSTITUTION),
                              ("operator@dukcapil.go.id", "operator", OPERATOR)):
        ctx = browser.new_context(ignore_https_errors=True)
        pg = ctx.new_page()
        enrol(stack, pg, stack.add_user(email, role, inst), email)
        made[role] = (email, ctx.storage_state())   # the signed-in session, reused
        ctx.close()
    return made


@pytest.fixture
def as_viewer(browser, accounts):
    """A page signed in as rsud-a's viewer (the session made at enrolment)."""
    context = browser.new_context(ignore_https_errors=True, accept_downloads=True,
                                  storage_state=accounts["viewer"][1])
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    context.close()


@pytest.fixture
def as_operator(browser, accounts):
    context = browser.new_context(ignore_https_errors=True, accept_downloads=True,
                                  storage_state=accounts["operator"][1])
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    context.close()
