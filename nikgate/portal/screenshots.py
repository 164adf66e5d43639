"""Screenshots of the portal's main pages for docs/portal.md, taken with Playwright and
Debian's chromium against a running `nikgate demo`:

    python -m nikgate.portal.screenshots --dir var/demo --out docs/portal

Signs in with the demo logins (DIR/portal/demo-login.json), verifies one demo person,
runs a small batch, and saves PNGs of the sign-in, verify, batch, usage, obligations and
operator pages. The NIKs shown are synthetic.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pyotp

from nikgate.engine import NikIndex

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _code(secret: str, used: set[int]) -> str:
    while int(time.time() // 30) in used:
        time.sleep(1)
    used.add(int(time.time() // 30))
    return pyotp.TOTP(secret).now()


def _sign_in(page, url: str, login: dict, used: set[int]) -> None:
    page.goto(url + "/masuk")
    page.fill("#email", login["email"])
    page.fill("#password", login["password"])
    page.click("button[type=submit]")
    page.fill("#code", _code(login["totp"], used))
    page.click("main button[type=submit]")


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description="screenshots of the portal for its docs")
    ap.add_argument("--dir", default="var/demo")
    ap.add_argument("--out", default="docs/portal")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args(argv)
    root, out = Path(args.dir).resolve(), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    url = f"https://localhost:{(root / 'portal.port').read_text().strip()}"
    logins = json.loads((root / "portal" / "demo-login.json").read_text())
    with NikIndex.open(root / "index") as idx:
        niks = idx.sample_niks(40, start=3201000000000000)
        found = idx.lookup_batch(niks, ["NAMA_LGKP", "TGL_LHR"])
        people = []
        for i, n in enumerate(niks):
            item = found.item(i)
            if item is not None:
                people.append((n, {k: v or "" for k, v in item.items()}))
    used: set[int] = set()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=ARGS)
        ctx = browser.new_context(ignore_https_errors=True, viewport={"width": 1100,
                                                                       "height": 760})
        page = ctx.new_page()
        page.goto(url + "/masuk")
        page.screenshot(path=out / "masuk.png")
        _sign_in(page, url, logins["viewer"], used)
        nik, person = people[0]
        page.goto(url + "/verifikasi")
        page.fill("#nik", nik)
        page.fill("#f-NAMA_LGKP", person["NAMA_LGKP"].title())
        page.fill("#f-TGL_LHR", person["TGL_LHR"])
        page.fill("#f-TMPT_LHR", "Jakarta")
        page.click("#verify-form button[type=submit]")
        page.locator("#result").wait_for()
        page.screenshot(path=out / "verifikasi.png", full_page=True)
        csv_path = root / "portal" / "screenshot-batch.csv"
        rows = ["nik,NAMA_LGKP,TGL_LHR"] + [f"{n},{p['NAMA_LGKP']},{p['TGL_LHR']}"
                                            for n, p in people for _ in range(250)]
        rows.insert(5, "123,Budi,1990-01-01")
        csv_path.write_text("\n".join(rows) + "\n")
        page.goto(url + "/massal")
        page.set_input_files("#file", str(csv_path))
        page.click("main form button[type=submit]")
        page.locator("#job[data-state=done]").wait_for(timeout=60_000)
        page.screenshot(path=out / "massal.png", full_page=True)
        csv_path.unlink()
        page.goto(url + "/data-pribadi")
        page.screenshot(path=out / "data-pribadi.png", full_page=True)
        page.goto(url + "/penggunaan")
        page.screenshot(path=out / "penggunaan.png", full_page=True)
        page.goto(url + "/kewajiban")
        page.screenshot(path=out / "kewajiban.png", full_page=True)
        ctx.close()
        ctx = browser.new_context(ignore_https_errors=True, viewport={"width": 1100,
                                                                       "height": 760})
        page = ctx.new_page()
        _sign_in(page, url, logins["operator"], used)
        page.goto(url + "/admin/hak-akses/rsud-demo")
        page.screenshot(path=out / "hak-akses.png", full_page=True)
        page.goto(url + "/admin/pengguna")
        page.screenshot(path=out / "pengguna.png", full_page=True)
        browser.close()
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
