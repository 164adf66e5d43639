"""Starting the gateway as a process of its own (for `nikgate demo`), and the curl call to
paste against it."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path


def start(config: Path, upstream: str, address: str, port_file: Path,
          timeout: float = 30.0) -> tuple[subprocess.Popen, int]:
    """`nikgate gateway --config CONFIG` in front of `upstream`, listening on `address`;
    returns the process and its bound port once it listens (RuntimeError if it does not)."""
    port_file.unlink(missing_ok=True)
    env = {**os.environ, "NIKGATE_GATEWAY_UPSTREAM": upstream,
           "NIKGATE_GATEWAY_ADDRESS": address, "NIKGATE_GATEWAY_PORT_FILE": str(port_file)}
    process = subprocess.Popen([sys.executable, "-m", "nikgate", "gateway", "--config",
                                str(config)], env=env)
    deadline = time.monotonic() + timeout
    while not (port_file.exists() and port_file.read_text().strip()):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the JSON gateway did not start (exit {process.poll()})")
        time.sleep(0.05)
    return process, int(port_file.read_text())


def curl_command(url: str, ca: Path, cert: Path, key: Path, body: str) -> str:
    """A curl call that works as pasted: mutual TLS with the given files, a JSON body."""
    return (f"curl --cacert {shlex.quote(str(ca))} --cert {shlex.quote(str(cert))} "
            f"--key {shlex.quote(str(key))} -H 'Content-Type: application/json' "
            f"-d {shlex.quote(body)} {url}")
