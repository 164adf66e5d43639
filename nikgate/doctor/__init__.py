"""`nikgate doctor`: checks of one node, each OK / WARN / FAIL with what to do.

The checks, in the order printed (one module each): the config loads (here), the
certificates and the CRL (certs.py), the index (index.py), disk free and days left for the
audit log and the return store (disk.py), the clock (clock.py), the gRPC port (ports.py),
and the card readers named on the command line (card.py). Every check reads; none
changes the node. docs/operations.md says what each line means and what to do.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from pathlib import Path

from nikgate.errors import NikgateError

from . import card, certs, clock, disk, index, ports
from .result import Check, Status, fail, ok, overall

__all__ = ["DEMO_CONFIG", "Check", "Status", "find_config", "overall", "run"]

DEMO_CONFIG = "var/demo/nikgate.toml"


def find_config(path: str | None) -> str | None:
    """The config doctor reads: `path`, else the demo's when it exists, else none (the
    built-in defaults, as `nikgate serve` without --config)."""
    if path:
        return path
    return DEMO_CONFIG if Path(DEMO_CONFIG).exists() else None


def _load(path: str | None):
    from nikgate.server.config import load_config

    try:
        config = load_config(path)
    except NikgateError as e:
        return fail("config", str(e), "fix the config (docs/configuration.md)"), None, set()
    sections: set[str] = set()
    if path is not None:
        with open(path, "rb") as f:
            sections = set(tomllib.load(f))
    where = path if path is not None else "no file: built-in defaults (as `nikgate serve`)"
    return ok("config", f"{where}: serves {config.server.address}, index "
              f"{config.index.path}"), config, sections


def _fix(base: Path, value: str) -> Path:
    """A [portal] path: relative to the config file, as nikgate/portal/serve.py resolves it."""
    return Path(value) if os.path.isabs(value) else base / value


def run(config_path: str | None = None, *, cert: str | None = None, key: str | None = None,
        card_readers: Sequence[str] = ()) -> list[Check]:
    """Every check of the node configured by `config_path` (see find_config)."""
    path = find_config(config_path)
    loaded, config, sections = _load(path)
    checks = [loaded]
    if config is None:
        return checks
    base = Path(path).parent if path is not None else Path.cwd()
    issue_adapter = "issue a new one: `nikgate pki issue --kind {kind} --id ID --dir PKI_DIR`"
    targets = [("cert server", Path(config.tls.cert),
                "rotate it: `nikgate pki issue-server --dir PKI_DIR` (docs/pki.md)")]
    client = None
    if "gateway" in sections:
        g = config.gateway
        targets.append(("cert gateway-adapter", Path(g.adapter_cert),
                        issue_adapter.format(kind="gateway")))
        client = ("the gateway", Path(g.adapter_cert), Path(g.adapter_key))
        if g.cert:
            targets.append(("cert gateway-https", Path(g.cert),
                            "rotate it: `nikgate pki issue-server`"))
    if "portal" in sections:
        p = config.portal
        targets.append(("cert portal-adapter", _fix(base, p.client_cert),
                        issue_adapter.format(kind="portal")))
        targets.append(("cert portal-https", _fix(base, p.https_cert),
                        "rotate it: `nikgate pki issue-server`"))
        if client is None:
            client = ("the portal", _fix(base, p.client_cert), _fix(base, p.client_key))
    if cert and key:
        client = (cert, Path(cert), Path(key))
    checks += certs.check(targets, Path(config.tls.ca), Path(config.tls.crl))
    checks.append(index.check(Path(config.index.path)))
    checks += disk.check(Path(config.audit.directory), Path(config.return_data.store))
    checks.append(clock.check())
    checks.append(ports.check(config.server.address, config.server.port_file,
                              Path(config.tls.ca), client, config.gateway.server_name))
    checks += [card.check(spec) for spec in card_readers]
    return checks
