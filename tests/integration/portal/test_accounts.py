"""Accounts and sessions in a real browser: set-password link and TOTP enrolment, sign-in
with TOTP, lockout after 5 failures, CSRF, roles, sign-out everywhere, session expiry."""

from __future__ import annotations

import time

import httpx

from .conftest import PASSWORD, enrol, make_stack, sign_in, stop_stack


def test_link_enrolment_and_sign_in_with_totp(stack, page, browser):
    email = "baru@rsud-a.go.id"
    link = stack.add_user(email)
    enrol(stack, page, link, email)
    assert page.url.endswith("/verifikasi")
    assert page.get_by_text(email).is_visible()
    # the link works once
    page.goto(stack.url + link)
    assert "tidak berlaku" in page.locator("main").inner_text()
    # a new browser signs in with password and a fresh code
    other = browser.new_context(ignore_https_errors=True).new_page()
    other.goto(stack.url + "/masuk")
    other.get_by_label("Email").fill(email)
    other.get_by_label("Kata sandi").fill(PASSWORD)
    other.get_by_role("button", name="Masuk").click()
    assert other.url.endswith("/masuk/kode")
    # the password alone opens nothing
    other.goto(stack.url + "/verifikasi")
    assert other.url.endswith("/masuk/kode")
    other.get_by_label("Kode autentikator (6 angka)").fill("000000")
    other.get_by_role("button", name="Lanjut").click()
    assert "Kode salah" in other.locator("[role=alert]").inner_text()
    other.get_by_label("Kode autentikator (6 angka)").fill(stack.code(email))
    other.get_by_role("button", name="Lanjut").click()
    assert other.url.endswith("/verifikasi")
    cookies = {c["name"]: c for c in other.context.cookies()}
    session = cookies["__Host-nikgate-session"]
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Strict"
    other.context.close()


def test_lockout_after_5_failures_until_an_operator_unlocks(stack, page):
    email = "kunci@rsud-a.go.id"
    enrol(stack, page, stack.add_user(email), email)
    page.context.clear_cookies()
    for i in range(5):
        page.goto(stack.url + "/masuk")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Kata sandi").fill(f"salah-{i}-xxxxxxxx")
        page.get_by_role("button", name="Masuk").click()
    assert "dikunci" in page.locator("[role=alert]").inner_text()
    # even the right password is refused now, saying why
    page.goto(stack.url + "/masuk")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Kata sandi").fill(PASSWORD)
    page.get_by_role("button", name="Masuk").click()
    assert "dikunci" in page.locator("[role=alert]").inner_text()
    listed = stack.cli("list")
    assert "locked" in [line.split()[4] for line in listed.stdout.splitlines()
                        if email in line][0]
    assert stack.cli("unlock", email).returncode == 0
    sign_in(stack, page, email)
    assert page.url.endswith("/verifikasi")


def test_viewer_on_an_operator_page_gets_403(stack, as_viewer):
    for path in ("/admin/lembaga", "/admin/pengguna", "/admin/sam", "/admin/hak-akses/rsud-a"):
        response = as_viewer.goto(stack.url + path)
        assert response.status == 403, path
        assert "hanya untuk operator" in as_viewer.locator("[role=alert]").inner_text()


def test_form_without_csrf_token_gets_403(stack, as_viewer):
    as_viewer.goto(stack.url + "/verifikasi")
    # the page's own form, its token removed, submitted by the browser
    as_viewer.evaluate("document.querySelector('#verify-form input[name=csrf]').remove()")
    as_viewer.get_by_label("NIK", exact=True).fill("3201014507900001")
    with as_viewer.expect_navigation():
        as_viewer.get_by_role("button", name="Verifikasi", exact=True).click()
    assert "token keamanan" in as_viewer.locator("[role=alert]").inner_text()
    cookies = {c["name"]: c["value"] for c in as_viewer.context.cookies()}
    for form in ({}, {"csrf": "not-the-token"}):
        r = httpx.post(stack.url + "/verifikasi", data={"nik": "3201014507900001", **form},
                       cookies=cookies, verify=False)
        assert r.status_code == 403
    # sign-in form too (anonymous token)
    r = httpx.post(stack.url + "/masuk", data={"email": "x@y.id", "password": "p"},
                   verify=False)
    assert r.status_code == 403


def test_uploads_are_bounded_before_any_parsing(stack):
    import socket
    import ssl
    from urllib.parse import urlsplit

    from nikgate.portal.web import MAX_UPLOAD

    # declared over the limit: refused from the header, before the body is read or spooled
    url = urlsplit(stack.url)
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((url.hostname, url.port), timeout=10) as raw, \
            tls.wrap_socket(raw, server_hostname=url.hostname) as conn:
        conn.sendall(b"POST /masuk HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data;"
                     b" boundary=b\r\nContent-Length: " + str(MAX_UPLOAD + 1).encode()
                     + b"\r\n\r\n--b\r\n")
        assert conn.recv(64).startswith(b"HTTP/1.1 413")
    # no length at all (chunked): refused too
    r = httpx.post(stack.url + "/masuk", verify=False,
                   content=iter([b"--b\r\n", b"x" * 1024]),
                   headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413


def test_security_headers(stack):
    r = httpx.get(stack.url + "/masuk", verify=False)
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "max-age" in r.headers["strict-transport-security"]
    assert r.headers["cache-control"] == "no-store"


def test_sign_out_everywhere_ends_every_session(stack, browser):
    email = "dua@rsud-a.go.id"
    first = browser.new_context(ignore_https_errors=True).new_page()
    enrol(stack, first, stack.add_user(email), email)
    second = browser.new_context(ignore_https_errors=True).new_page()
    sign_in(stack, second, email)
    assert second.url.endswith("/verifikasi")
    second.get_by_role("button", name="Keluar dari semua perangkat").click()
    assert "/masuk" in second.url
    first.goto(stack.url + "/verifikasi")
    assert "/masuk" in first.url
    assert "berakhir" in first.locator("main").inner_text()
    first.context.close()
    second.context.close()


def test_session_expiry_idle_and_absolute(certs, server_config, tmp_path_factory, browser):
    short = make_stack(certs, server_config, tmp_path_factory, idle_timeout_seconds=2.0,
                       absolute_timeout_seconds=6.0)
    try:
        email = "sesi@rsud-a.go.id"
        page = browser.new_context(ignore_https_errors=True).new_page()
        enrol(short, page, short.add_user(email), email)
        started = time.monotonic()
        while time.monotonic() - started < 4.5:          # active: the idle clock restarts
            page.goto(short.url + "/verifikasi")
            assert page.url.endswith("/verifikasi")
            time.sleep(1.0)
        time.sleep(max(0.0, 6.5 - (time.monotonic() - started)))
        page.goto(short.url + "/verifikasi")             # past the absolute 6 s
        assert "/masuk" in page.url and "berakhir" in page.locator("main").inner_text()
        sign_in(short, page, email)
        assert page.url.endswith("/verifikasi")
        time.sleep(2.5)                                  # idle past 2 s
        page.goto(short.url + "/verifikasi")
        assert "/masuk" in page.url and "berakhir" in page.locator("main").inner_text()
        page.context.close()
    finally:
        stop_stack(short)
