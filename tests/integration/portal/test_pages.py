"""The portal's pages in a real browser against a real nikgate: verify one NIK (with its
signed receipt), a batch through VerifyStream with progress and the result file, Data
pribadi showing only granted fields, data balikan with its report and obligations,
keyboard-only use with labels, the operator pages, and no NIK or personal value in the
portal's log or in any URL the browser visited."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess

import pytest

from .conftest import INSTITUTION, nikgate_cmd

pytestmark = pytest.mark.usefixtures("accounts")


@pytest.fixture(scope="module")
def people(index):
    niks = index.sample_niks(60)
    found = index.lookup_batch(niks, ["NAMA_LGKP", "TGL_LHR", "TMPT_LHR", "ALAMAT"])
    out = []
    for i, nik in enumerate(niks):
        item = found.item(i)
        if item is not None:
            out.append({"NIK": nik, **item})
    return out


@pytest.fixture(scope="module")
def visited():
    """Every URL a test's browser requested (the no-NIK-in-URL test reads it)."""
    return []


def watch(page, visited):
    page.on("request", lambda r: visited.append(r.url))
    return page


def test_verify_one_nik_with_receipt(stack, as_viewer, people, visited, tmp_path):
    page = watch(as_viewer, visited)
    p = people[0]
    page.goto(stack.url + "/verifikasi")
    page.get_by_label("NIK", exact=True).fill(p["NIK"])
    page.get_by_label("Nama lengkap").fill(p["NAMA_LGKP"].title())
    page.get_by_label("Tanggal lahir").fill(p["TGL_LHR"])
    page.get_by_label("Tempat lahir").fill("Kota Salah Sekali")
    page.get_by_role("button", name="Verifikasi", exact=True).click()
    result = page.locator("#result")
    assert "Ditemukan" in result.inner_text()
    rows = {r.locator("th").inner_text(): r.locator("td").first.inner_text()
            for r in result.locator("tbody tr").all()}
    assert "Sesuai" in rows["Nama lengkap"] and "Tidak" not in rows["Nama lengkap"]
    assert "Sesuai" in rows["Tanggal lahir"]
    assert "Tidak Sesuai" in rows["Tempat lahir"]
    assert p["NIK"] not in page.title() and p["NIK"] not in page.url
    with page.expect_download() as dl:
        page.locator("#receipt").click()
    saved = tmp_path / "receipt.json"
    dl.value.save_as(saved)
    body = json.loads(saved.read_text())
    assert {"response_b64", "request_b64"} <= set(body)
    key = stack.server.config.receipts.signing_key + ".pub"
    done = subprocess.run([*nikgate_cmd(), "receipt", "verify", str(saved), "--public-key",
                           key], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "portal" in done.stdout      # the receipt names the adapter and the user


def test_verify_refusal_says_why(stack, as_viewer, people):
    as_viewer.goto(stack.url + "/verifikasi")
    as_viewer.get_by_label("NIK", exact=True).fill("12345")
    as_viewer.get_by_label("Nama lengkap").fill("Siapa Saja")
    as_viewer.get_by_role("button", name="Verifikasi", exact=True).click()
    alert = as_viewer.locator("[role=alert]").inner_text()
    assert alert.startswith("Ditolak") and "16 digits" in alert


def test_keyboard_only_verify_with_labels(stack, as_viewer, people, visited):
    page = watch(as_viewer, visited)
    page.goto(stack.url + "/verifikasi")
    # every visible input of the form has a label naming it
    for el in page.locator("#verify-form input:not([type=hidden])").all():
        ident = el.get_attribute("id")
        assert ident and page.locator(f"label[for='{ident}']").count() == 1, ident
    p = people[1]
    page.locator("body").focus()
    page.keyboard.press("Tab")               # the skip link comes first
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    for _ in range(40):                      # tab to the NIK field
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "nik":
            break
    assert page.evaluate("document.activeElement.id") == "nik"
    page.keyboard.type(p["NIK"])
    page.keyboard.press("Tab")               # purpose
    page.keyboard.press("Tab")               # full name
    assert page.evaluate("document.activeElement.id") == "f-NAMA_LGKP"
    page.keyboard.type(p["NAMA_LGKP"])
    page.keyboard.press("Enter")             # submits the form
    page.locator("#result").wait_for()
    assert "Sesuai" in page.locator("#result").inner_text()


def test_batch_with_progress_and_result(stack, as_viewer, people, visited, tmp_path):
    page = watch(as_viewer, visited)
    rows = 100_000                           # the cap: a whole file of the largest size
    src = io.StringIO()
    w = csv.writer(src)
    w.writerow(["nik", "NAMA_LGKP", "TGL_LHR"])
    for i in range(rows):
        p = people[i % len(people)]
        if i == 7:
            w.writerow(["32010145079", "Budi", "1990-01-01"])      # malformed NIK
        elif i == 8:
            w.writerow([p["NIK"], "Budi"])                          # a column short
        elif i == 9:
            w.writerow([p["NIK"], "", ""])                          # nothing claimed
        else:
            w.writerow([p["NIK"], p["NAMA_LGKP"], p["TGL_LHR"]])
    path = tmp_path / "massal.csv"
    path.write_text(src.getvalue())
    page.goto(stack.url + "/massal")
    page.get_by_label("Berkas CSV").set_input_files(str(path))
    page.get_by_role("button", name="Unggah dan verifikasi").click()
    bar = page.locator("progress#bar")
    assert bar.get_attribute("max") == str(rows)
    seen = set()
    while not page.locator("#job[data-state=done]").count():   # the bar moves as rows go
        seen.add(int(bar.evaluate("b => b.value")))
        page.wait_for_timeout(50)
    assert any(0 < v < rows for v in seen), f"no progress seen between 0 and {rows}: {seen}"
    assert page.evaluate("document.getElementById('bar').value") == rows
    message = page.locator("#job-message").inner_text()
    assert f"{rows:,}" in message and "Selesai" in message
    with page.expect_download() as dl:
        page.get_by_role("link", name="Unduh hasil (CSV)").click()
    out = list(csv.DictReader(io.StringIO(dl.value.path().read_text())))
    assert len(out) == rows and [r["row"] for r in out] == [str(i + 1) for i in range(rows)]
    assert out[0]["status"] == "FOUND" and out[0]["NAMA_LGKP_result"] == "SESUAI"
    assert out[7]["status"] == "INVALID_NIK" and out[7]["reason"]
    assert out[8]["status"] == "NOT_VERIFIED" and "columns" in out[8]["reason"]
    assert out[9]["status"] == "NOT_VERIFIED" and "no claimed" in out[9]["reason"]
    assert sum(r["status"] == "FOUND" for r in out) == rows - 3


def test_batch_bad_header_refused_with_reason(stack, as_viewer, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("nik,NAMA_PANGGILAN\n3201014507900001,x\n")
    as_viewer.goto(stack.url + "/massal")
    as_viewer.get_by_label("Berkas CSV").set_input_files(str(path))
    as_viewer.get_by_role("button", name="Unggah dan verifikasi").click()
    assert "NAMA_PANGGILAN" in as_viewer.locator("[role=alert]").inner_text()


def test_lookup_shows_only_granted_fields(stack, as_viewer, people, visited):
    page = watch(as_viewer, visited)
    page.goto(stack.url + "/data-pribadi")
    offered = sorted(el.get_attribute("value") for el in
                     page.locator("input[name=fields]").all())
    assert offered == ["KEC_NAME", "NAMA_LGKP", "TGL_LHR"]       # the grant's lookup fields
    assert page.locator("#l-ALAMAT").count() == 0
    page.get_by_label("NIK", exact=True).fill(people[2]["NIK"])
    page.get_by_role("button", name="Tampilkan").click()
    table = page.locator("main table").inner_text()
    assert people[2]["NAMA_LGKP"] in table and people[2]["ALAMAT"] not in table


def test_return_data_upload_report_and_obligations(stack, as_viewer, people, visited,
                                                   tmp_path):
    page = watch(as_viewer, visited)
    # the NIKs verified above are owed (the ledger flushes within 0.1 s on this server)
    path = tmp_path / "balikan.csv"
    path.write_text("record_id,nik,kind,value\n"
                    f"pasien-1,{people[0]['NIK']},patient_id,RM-000001\n"
                    f"pasien-2,{people[0]['NIK']},msisdn,6281234567890\n"
                    f"pasien-3,3201014507900001,patient_id,RM-000003\n")
    page.goto(stack.url + "/data-balikan")
    page.get_by_label("Berkas CSV").set_input_files(str(path))
    page.get_by_role("button", name="Kirim").click()
    report = page.locator("#report")
    report.wait_for()
    assert page.locator("#r-records").inner_text() == "3"
    assert page.locator("#r-stored").inner_text() == "1"
    assert page.locator("#r-rejected").inner_text() == "2"
    text = report.inner_text()
    assert "KIND_NOT_GRANTED" in text and ("NOT_ACCESSED" in text or "MALFORMED_NIK" in text)
    page.get_by_role("link", name="Kewajiban").first.click()
    facts = page.locator("dl.facts").inner_text()
    assert "30 hari" in facts and "Dipenuhi" in facts


def test_usage_and_activity(stack, as_viewer, visited, people):
    page = watch(as_viewer, visited)
    page.goto(stack.url + "/penggunaan")
    assert page.locator("svg.chart").count() == 2
    left = page.locator("#quota-left").inner_text()
    assert re.match(r"[\d,]+ / 500,000", left), left
    page.goto(stack.url + "/verifikasi")
    page.get_by_label("NIK", exact=True).fill(people[3]["NIK"])
    page.get_by_label("Nama lengkap").fill(people[3]["NAMA_LGKP"])
    page.get_by_role("button", name="Verifikasi", exact=True).click()
    page.locator("#result").wait_for()
    page.goto(stack.url + "/aktivitas")
    text = page.locator("main").inner_text()
    assert "verify" in text and "usage.view" in text        # the user's own actions
    assert people[0]["NIK"] not in text


def test_operator_pages_and_grant_suspension(stack, as_operator, as_viewer, people, visited):
    page = watch(as_operator, visited)
    page.goto(stack.url + "/admin/lembaga")
    assert INSTITUTION in page.locator("main table").inner_text()
    page.get_by_role("link", name=INSTITUTION).click()
    assert page.locator("#grant-status").inner_text() == "active"
    page.get_by_label("Alasan (wajib)").fill("data balikan terlambat")
    page.get_by_role("button", name="Tangguhkan").click()
    assert page.locator("#grant-status").inner_text() == "suspended"
    # the institution's staff are refused, and told why
    as_viewer.goto(stack.url + "/verifikasi")
    as_viewer.get_by_label("NIK", exact=True).fill(people[0]["NIK"])
    as_viewer.get_by_label("Nama lengkap").fill("x")
    as_viewer.get_by_role("button", name="Verifikasi", exact=True).click()
    assert "suspended" in as_viewer.locator("[role=alert]").inner_text()
    page.get_by_label("Alasan (wajib)").fill("sudah dipenuhi")
    page.get_by_role("button", name="Aktifkan").click()
    assert page.locator("#grant-status").inner_text() == "active"
    page.goto(stack.url + "/admin/pengguna")
    assert "petugas@rsud-a.go.id" in page.locator("main").inner_text()
    page.goto(stack.url + "/admin/sam")
    assert page.locator("main table").count() == 1


def test_english_switch(stack, as_viewer):
    as_viewer.goto(stack.url + "/verifikasi")
    as_viewer.get_by_role("link", name="English").click()
    assert as_viewer.locator("h1").inner_text() == "Verification"
    assert as_viewer.get_by_label("Full name").count() == 1
    as_viewer.get_by_role("link", name="Bahasa Indonesia").click()
    assert as_viewer.locator("h1").inner_text() == "Verifikasi"


def test_no_nik_or_personal_value_in_logs_or_urls(stack, people, visited):
    """Runs last in this module: everything above went through this portal."""
    assert visited, "the tests above visited pages"
    log = stack.log_text()
    store = (stack.store_dir / "portal.sqlite3").read_bytes()
    for p in people[:3]:
        for value in (p["NIK"], p["NAMA_LGKP"], p["NAMA_LGKP"].title(), p["ALAMAT"]):
            assert value not in log, "a personal value in the portal's log"
            assert all(value not in url for url in visited), "a personal value in a URL"
            assert value.encode() not in store, "a personal value in the portal's store"
    assert not re.search(r"(?<!\d)\d{16}(?!\d)", log), "something like a NIK in the log"
    assert not any(re.search(r"(?<!\d)\d{16}(?!\d)", u) for u in visited)
    assert "/sandi/" not in log or "/sandi/…" in log      # set-password tokens cut out
