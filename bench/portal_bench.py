"""Web portal benchmark against a running `nikgate demo` (docs/portal.md, "Speed").

    python -m bench.portal_bench [--dir var/demo] [--rows 100000] [--users 20] [--seconds 30]

1. Verifikasi massal: a CSV of --rows real NIKs with name and birth date is uploaded as a
   browser would (multipart POST with the CSRF token), streamed by the portal through
   VerifyStream, polled until done and the result CSV downloaded; prints upload, processing
   and total seconds and rows/s.
2. The verify page at --users concurrent users, each with its own account and session
   (made in the portal's store: the sign-in throttle allows 10 sign-ins a minute from one
   address), each posting the verify form in a closed loop for --seconds; prints calls/s
   and the latency of a POST as the user waits for the result page (p50, p90, p99, max).

The accounts bench-NN@rsud-demo.go.id are made in the demo portal's store on first use
(password and TOTP set directly: a benchmark cannot wait for one TOTP step per sign-in).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import random
import re
import secrets
import statistics
import time
from pathlib import Path

import httpx

from nikgate.engine import NikIndex

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def bench_users(root: Path, n: int) -> list[tuple[str, str, str]]:
    """(email, password, TOTP secret) of n bench accounts of rsud-demo (made once)."""
    from nikgate.portal.security import hash_password, new_totp_secret
    from nikgate.portal.store import PortalStore

    path = root / "portal" / "bench-logins.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    store = PortalStore(root / "portal")
    try:
        for i in range(n):
            email = f"bench-{i:02d}@rsud-demo.go.id"
            if email in known and store.user_by_email(email):
                continue
            old = store.user_by_email(email)
            user, token = (old, store.new_link(old.id, 1)) if old else store.add_user(
                email, "rsud-demo", "viewer", "bench", 1)
            password, secret = secrets.token_urlsafe(12), new_totp_secret()
            store.set_password(token, hash_password(password), secret)
            store.confirm_totp(user.id)
            known[email] = [password, secret]
    finally:
        store.close()
    path.write_text(json.dumps(known))
    path.chmod(0o600)
    return [(f"bench-{i:02d}@rsud-demo.go.id", *known[f"bench-{i:02d}@rsud-demo.go.id"])
            for i in range(n)]


def open_sessions(root: Path, emails: list[str]) -> list[tuple[str, str]]:
    """(session cookie, CSRF token) of a new signed-in session per account."""
    from nikgate.portal.store import PortalStore

    store = PortalStore(root / "portal")
    try:
        out = []
        for email in emails:
            user = store.user_by_email(email)
            assert user is not None
            sid, session = store.new_session(user.id, "full")
            out.append((sid, session.csrf))
        return out
    finally:
        store.close()


def people(index_dir: Path, n: int, seed: int = 7) -> list[tuple[str, str, str]]:
    """n (NIK, name, birth date) of real records, sampled from many places, shuffled."""
    rng = random.Random(seed)
    out: list[tuple[str, str, str]] = []
    with NikIndex.open(index_dir) as idx:
        while len(out) < n:
            niks = idx.sample_niks(500, start=rng.randrange(11 * 10**14, 95 * 10**14)) or \
                idx.sample_niks(500)
            found = idx.lookup_batch(niks, ["NAMA_LGKP", "TGL_LHR"])
            for i, nik in enumerate(niks):
                item = found.item(i)
                if item is not None:
                    out.append((nik, item["NAMA_LGKP"] or "", item["TGL_LHR"] or ""))
    rng.shuffle(out)
    return out[:n]


def client_for(url: str, ca: Path) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, verify=str(ca), timeout=600,
                             follow_redirects=False)


async def batch(url: str, ca: Path, login, rows: list[tuple[str, str, str]]) -> dict:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["nik", "NAMA_LGKP", "TGL_LHR"])
    w.writerows((n, name.title(), born) for n, name, born in rows)
    data = out.getvalue().encode()
    async with client_for(url, ca) as client:
        client.headers["cookie"] = f"__Host-nikgate-session={login[0]}"
        token = login[1]
        t0 = time.perf_counter()
        r = await client.post("/massal", data={"csrf": token},
                              files={"file": ("massal.csv", data, "text/csv")})
        t_upload = time.perf_counter() - t0
        job = re.search(r'data-status="(/massal/[^/]+/status)"', r.text).group(1)
        while True:
            s = (await client.get(job)).json()
            if s["state"] != "running":
                break
            await asyncio.sleep(0.1)
        t_done = time.perf_counter() - t0
        result = await client.get(job.replace("/status", "/hasil"))
        t_total = time.perf_counter() - t0
    lines = result.text.count("\n") - 1
    found = result.text.count(",FOUND,")
    return {"rows": len(rows), "bytes": len(data), "upload_s": round(t_upload, 2),
            "verified_s": round(t_done, 2), "total_s": round(t_total, 2),
            "rows_per_s": round(len(rows) / t_done), "result_rows": lines, "found": found,
            "state": s["state"]}


async def verify_load(url: str, ca: Path, logins, sample, seconds: float) -> dict:
    latencies: list[float] = []
    errors = 0

    async def user(login, k: int) -> None:
        nonlocal errors
        async with client_for(url, ca) as client:
            client.headers["cookie"] = f"__Host-nikgate-session={login[0]}"
            token = login[1]
            end = time.perf_counter() + seconds
            i = k
            while time.perf_counter() < end:
                nik, name, born = sample[i % len(sample)]
                i += len(logins)
                t = time.perf_counter()
                r = await client.post("/verifikasi", data={
                    "csrf": token, "nik": nik, "NAMA_LGKP": name.title(), "TGL_LHR": born})
                latencies.append(time.perf_counter() - t)
                if r.status_code != 200 or "Ditemukan" not in r.text:
                    errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(user(login, k) for k, login in enumerate(logins)))
    wall = time.perf_counter() - t0
    ms = sorted(x * 1000 for x in latencies)

    def pct(p: float) -> float:
        return round(ms[min(len(ms) - 1, int(p * len(ms)))], 1)

    return {"users": len(logins), "calls": len(ms), "errors": errors,
            "calls_per_s": round(len(ms) / seconds), "p50_ms": pct(0.50), "p90_ms": pct(0.90),
            "p99_ms": pct(0.99), "max_ms": round(ms[-1], 1),
            "mean_ms": round(statistics.fmean(ms), 1), "wall_s": round(wall, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default="var/demo")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--skip-batch", action="store_true")
    ap.add_argument("--skip-verify", action="store_true")
    args = ap.parse_args(argv)
    root = Path(args.dir).resolve()
    url = f"https://localhost:{(root / 'portal.port').read_text().strip()}"
    ca = root / "pki" / "ca" / "ca.crt"
    logins = bench_users(root, max(args.users, 1))
    print(f"portal {url}; sampling {max(args.rows, 2000):,} people from {root / 'index'}")
    sample = people(root / "index", max(args.rows, 2000))
    report: dict = {}
    # Sessions made in the store: signing 20 users in from one address would meet the
    # sign-in throttle ([portal] signin_per_minute), which is not what this measures.
    sessions = open_sessions(root, [email for email, _, _ in logins])
    if not args.skip_batch:
        report["batch"] = asyncio.run(batch(url, ca, sessions[0], sample[:args.rows]))
        print("batch:", json.dumps(report["batch"]))
    if not args.skip_verify:
        report["verify_page"] = asyncio.run(verify_load(url, ca, sessions[:args.users],
                                                        sample, args.seconds))
        print("verify page:", json.dumps(report["verify_page"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
