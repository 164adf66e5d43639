"""The JSON API through the real gateway and server from three clients: curl, Node (its
standard https module) and Python (httpx), each running the same cases (cases.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from .cases import Case, cases
from .conftest import MAX_BODY

HERE = Path(__file__).resolve().parent


def _cases(person, accessed, tag: str) -> list[Case]:
    return cases(person.nik, person.name, person.birth_date, person.absent, accessed, tag,
                 MAX_BODY)


def _check(case: Case, status: int, body: str, retry_after: str | None, error: str = ""):
    where = f"{case.name}: got {status} {body[:300]!r} {error}"
    assert status == case.status, where
    for text in case.contains:
        assert text in body, f"{where}: missing {text!r}"
    if case.retry_after:
        assert retry_after and retry_after.isdigit() and int(retry_after) >= 1, where
    if status:
        json.loads(body)


def _curl(gateway, case: Case, tmp: Path) -> tuple[int, str, str | None]:
    out, head = tmp / "out", tmp / "head"
    cmd = ["curl", "-sS", "-o", str(out), "-D", str(head), "-w", "%{http_code}",
           "--cacert", str(gateway.dir / "ca.crt"), "-X", case.method,
           gateway.url + case.path]
    if case.cert:
        crt, key = gateway.cert(case.cert)
        cmd += ["--cert", crt, "--key", key]
    if case.content_type:
        cmd += ["-H", f"Content-Type: {case.content_type}"]
    for k, v in case.headers.items():
        cmd += ["-H", f"{k}: {v}"]
    if case.body is not None:
        (tmp / "body").write_text(case.body)
        cmd += ["--data-binary", f"@{tmp / 'body'}"]
    for _ in range(case.repeat):
        for f in (out, head):
            f.unlink(missing_ok=True)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    status = int(done.stdout.strip() or 0)
    if done.returncode != 0:
        return 0, done.stderr, None
    retry = None
    for line in head.read_text().splitlines():
        if line.lower().startswith("retry-after:"):
            retry = line.split(":", 1)[1].strip()
    return status, out.read_text(), retry


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl(gateway, person, accessed, tmp_path):
    for case in _cases(person, accessed, "curl-" + uuid.uuid4().hex[:8]):
        _check(case, *_curl(gateway, case, tmp_path))


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node(gateway, person, accessed, tmp_path):
    todo = _cases(person, accessed, "node-" + uuid.uuid4().hex[:8])
    (tmp_path / "cases.json").write_text(json.dumps([c.to_json() for c in todo]))
    done = subprocess.run(["node", str(HERE / "client.mjs"), str(tmp_path / "cases.json"),
                           gateway.url, str(gateway.dir)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "NODE_NO_WARNINGS": "1"})
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["name"] for r in results] == [c.name for c in todo]
    for case, r in zip(todo, results):
        assert not (r["error"] or "").startswith("not JSON"), r
        _check(case, r["status"], r["body"], r["retryAfter"], r["error"] or "")


def test_python(gateway, person, accessed):
    for case in _cases(person, accessed, "py-" + uuid.uuid4().hex[:8]):
        headers = dict(case.headers)
        if case.content_type:
            headers["Content-Type"] = case.content_type
        try:
            with gateway.client(case.cert) as c:
                for _ in range(case.repeat):
                    r = c.request(case.method, case.path, headers=headers,
                                  content=case.body.encode() if case.body else None)
            _check(case, r.status_code, r.text, r.headers.get("retry-after"))
        except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError) as e:
            _check(case, 0, "", None, str(e))
