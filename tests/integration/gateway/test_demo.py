"""`nikgate demo` starts the JSON gateway too, and the curl call it prints works as pasted;
the saved answer's receipt passes `nikgate receipt verify` and the signature an openssl
check, as docs/json-api.md shows."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time

import pytest

from nikgate.v1 import common_pb2
from tests.conftest import run_cli


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_demo_prints_a_curl_call_that_works(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "nikgate", "demo", "--dir", str(tmp_path),
                             "--records", "2000", "--port", "0", "--gateway-port", "0",
                             "--workers", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C stops the server" in line:
                break
        out = "".join(lines)
        pasted = next(x.strip() for x in out.splitlines() if x.strip().startswith("curl "))
        done = subprocess.run(pasted, shell=True, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert answer["status"] == "ITEM_STATUS_FOUND"
        assert {f["outcome"] for f in answer["fields"]} == {"OUTCOME_MATCH"}
        connection = json.loads((tmp_path / "connection.json").read_text())
        assert connection["gateway"].startswith("https://localhost:")

        saved = tmp_path / "answer.json"
        saved.write_text(done.stdout)
        public_key = tmp_path / connection["receipt_public_key"]
        r = run_cli("receipt", "verify", str(saved), "--public-key", str(public_key))
        assert r.returncode == 0 and r.stdout.startswith("valid"), r.stdout + r.stderr

        raw = bytearray(base64.b64decode(answer["response_b64"]))
        raw[5] ^= 1    # one bit of the transaction id
        tampered = dict(answer, response_b64=base64.b64encode(raw).decode())
        saved.write_text(json.dumps(tampered))
        assert run_cli("receipt", "verify", str(saved), "--public-key",
                       str(public_key)).returncode == 3   # INVALID: the answer is no

        if shutil.which("openssl"):   # as docs/json-api.md shows: the signed root, then
            receipt = answer["receipt"]  # the payload as a leaf of it (a lone call: one leaf)
            signed_root = base64.b64decode(receipt["signed_root"])
            (tmp_path / "root").write_bytes(signed_root)
            (tmp_path / "sig").write_bytes(base64.b64decode(receipt["signature"]))
            check = subprocess.run(
                ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(public_key),
                 "-rawin", "-in", str(tmp_path / "root"), "-sigfile",
                 str(tmp_path / "sig")], capture_output=True, text=True)
            assert check.returncode == 0 and "Success" in check.stdout, check.stderr
            root = common_pb2.ReceiptRoot.FromString(signed_root)
            payload = base64.b64decode(receipt["payload"])
            if root.leaf_count == 1:
                assert root.root_sha256 == hashlib.sha256(b"\x00" + payload).digest()
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
