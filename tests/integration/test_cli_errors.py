"""Every `nikgate` subcommand answers a mistake with one line and a documented exit code.

The commands are found by walking `nikgate.cli.build_parser()`, so a command added later
is covered without a line here. Each runs as a person would run it (the installed
`nikgate`, a process of its own) with (a) an unknown option and no arguments at all, (b) a
path it cannot read or create for each option that names a file or directory, (c) a
connection to a loopback port nothing listens on. Each must end within a bound with
exactly one line on stderr, the exit code of the table in nikgate/cli/exits.py, and no
traceback anywhere.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nikgate.cli import build_parser, exits

from ..conftest import run_cli

README = Path(__file__).resolve().parents[2] / "README.md"
# The commands run from an empty directory: defaults such as var/demo/connection.json must
# not find a demo someone made (or is serving) in this checkout (`make demo`, then
# `make test`); every path the cases give is absolute.
CWD = tempfile.mkdtemp(prefix="nikgate-cli-errors-")
BOUND = 60          # seconds any one mistake may take to be reported, at most
WORKERS = 4

# Values for required non-path options, by dest: plausible, so the command reaches the
# part under test (a synthetic NIK, a known institution of the test certificates).
PLAUSIBLE = {
    "nik": "3201014507900001", "fields": "NAMA_LGKP", "institution": "bank-a",
    "institution_id": "bank-a", "name": "Bank A", "records": "1", "changes": "1",
    "operations": "verify", "valid_until": "2030-01-01", "reason": "test",
    "date_from": "2024-01-01", "date_to": "2024-01-02", "email": "a@example.org",
    "user": "a@example.org", "serial": "1", "sam_id": "sam-1", "reader": "sim:none",
    "sam_reader": "sim:none",
}
# Options that name a file or directory (read or written): a word of the option's name
# (or a positional's dest or metavar) is one of these.
PATH_WORDS = {"file", "dir", "path", "config", "connection", "index", "key", "cert", "ca",
              "csr", "from", "out", "rejects", "store", "response", "request", "pki", "plot",
              "delta"}
NOT_PATHS = {"--as", "--address", "--reader", "--sam-reader", "--reader-serial",
             "--institution", "--id", "--server-name", "--target", "--gateway", "--kind",
             "--operator"}
# Commands whose answer is a report of checks: a path they cannot use is a line of the
# report on stdout (and a non-zero exit), not an error on stderr.
REPORTERS = {("doctor",)}
# Extra arguments for the stopped-server runs: the return-data sender reconnects for
# --give-up-after seconds (default 60) before it reports the server unreachable.
STOPPED_EXTRA = {("return-data", "send"): ["--give-up-after", "2"]}
# Not run against a stopped server: its call to the server comes after reading a card,
# which needs a simulated reader and card (tests/integration/card covers its errors).
STOPPED_SKIP = {("card-reader", "verify")}


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command words, parser) of every parser that runs something."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if parser.get_default("func") is not None:
        yield path, parser
    for action in subs:
        for name, child in action.choices.items():
            yield from _leaves(child, (*path, name))


LEAVES = dict(_leaves(build_parser()))


def _takes_value(a: argparse.Action) -> bool:
    return a.nargs != 0 and not isinstance(a, (argparse._HelpAction, argparse._VersionAction,
                                               argparse._SubParsersAction))


def _is_path(a: argparse.Action) -> bool:
    if not _takes_value(a) or a.type not in (None, str) or a.choices:
        return False
    if "YYYY" in str(a.metavar or ""):      # a date, e.g. audit usage --from
        return False
    if a.option_strings:
        opt = max(a.option_strings, key=len)
        return opt not in NOT_PATHS and bool(PATH_WORDS & set(opt.lstrip("-").split("-")))
    words = re.split(r"[-_ ]", f"{a.dest} {a.metavar or ''}".lower())
    return bool(PATH_WORDS & set(words))


def _required(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The arguments a run must give: required options and positionals, and the first of
    each required group of alternatives (--index or --connection)."""
    grouped = {a for g in parser._mutually_exclusive_groups for a in g._group_actions}
    out = [a for a in parser._actions if _takes_value(a) and a not in grouped
           and (a.required or not a.option_strings) and a.nargs not in ("?", "*")]
    out += [g._group_actions[0] for g in parser._mutually_exclusive_groups if g.required]
    return out


def _words(a: argparse.Action, value: str) -> list[str]:
    return [max(a.option_strings, key=len), value] if a.option_strings else [value]


def _plausible(a: argparse.Action) -> str:
    if a.choices:
        return str(next(iter(a.choices)))
    if a.type in (int, float):
        return "1"
    return PLAUSIBLE.get(a.dest, "x")


@pytest.fixture(scope="module")
def unusable(tmp_path_factory) -> str:
    """A path nobody can read or create: its parent is a regular file (ENOTDIR)."""
    parent = tmp_path_factory.mktemp("unusable") / "a-file"
    parent.write_text("not a directory\n")
    return str(parent / "missing")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def stopped_server(certs, tmp_path_factory) -> Path:
    """A connection file as `nikgate demo` writes, to a loopback port nobody listens on."""
    d = tmp_path_factory.mktemp("stopped")
    (d / "ca.crt").write_bytes(certs.ca)
    for who in ("good", "operator"):
        key, cert = getattr(certs, who)
        (d / f"{who}.key").write_bytes(key)
        (d / f"{who}.crt").write_bytes(cert)
    path = d / "connection.json"
    path.write_text(json.dumps({
        "address": f"127.0.0.1:{_free_port()}", "ca": "ca.crt",
        "institutions": {"bank-a": {"cert": "good.crt", "key": "good.key"},
                         "ops": {"cert": "operator.crt", "key": "operator.key"}}}))
    return path


def _check(args: list[str], expected: int, why: str, unused_ok: bool = False,
           report: bool = False) -> str | None:
    """None when `nikgate ARGS` behaves; else what went wrong. `unused_ok`: the command may
    also succeed (0, or 3 for a "no"): it did not need that path.
    `report`: a REPORTERS command, whose problem is on stdout with a non-zero exit."""
    try:
        r = run_cli(*args, timeout=BOUND, stdin=subprocess.DEVNULL, cwd=CWD)
    except subprocess.TimeoutExpired:
        return f"{why}: `nikgate {' '.join(args)}` did not end within {BOUND} s"
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    problems = []
    if "Traceback" in r.stdout + r.stderr:
        problems.append("a traceback")
    if report:
        if r.returncode == exits.DONE or lines:
            problems.append(f"exit {r.returncode} with {len(lines)} stderr lines: a "
                            "report's problem is on stdout with a non-zero exit")
    elif unused_ok and r.returncode in (exits.DONE, exits.FINDING):
        pass   # e.g. `sam list --audit-dir X`: a read-only command writes no audit
    else:
        if len(lines) != 1:
            problems.append(f"{len(lines)} stderr lines")
        if r.returncode != expected:
            problems.append(f"exit {r.returncode}, not {expected}")
    if problems:
        return (f"{why}: `nikgate {' '.join(args)}`: {', '.join(problems)}\n"
                f"  stderr: {r.stderr.strip()[-600:]!r}")
    return None


def _run_all(cases: list[tuple]) -> None:
    with ThreadPoolExecutor(WORKERS) as pool:
        failures = [f for f in pool.map(lambda c: _check(*c), cases) if f]
    assert not failures, f"{len(failures)} of {len(cases)} runs:\n" + "\n".join(failures)


def test_every_command_is_found():
    names = {" ".join(p) for p in LEAVES}
    # a few from each kind: offline, server, long-running, nested
    assert {"index build", "verify", "serve", "portal user add", "pki issue",
            "cluster up", "audit verify"} <= names, names
    assert len(names) >= 50


def test_bad_arguments_are_one_line_and_exit_2(unusable):
    cases = []
    for path, parser in LEAVES.items():
        given = [w for a in _required(parser) for w in _words(a, _plausible(a))]
        cases.append(([*path, *given, "--no-such-option"], exits.USAGE, "unknown option"))
        if _required(parser):
            cases.append(([*path], exits.USAGE, "required arguments missing"))
    _run_all(cases)


def test_unusable_paths_are_one_line_and_exit_2(unusable):
    cases = []
    for path, parser in LEAVES.items():
        required = _required(parser)
        base = {a: (unusable if _is_path(a) else _plausible(a)) for a in required}
        # With a required path already unusable the command stops there: an optional
        # path then adds a run, not a check (unless it replaces its alternative).
        grouped = {b for g in parser._mutually_exclusive_groups for b in g._group_actions}
        stops = any(_is_path(b) and b not in grouped for b in required)
        options = [a for a in parser._actions if _is_path(a)
                   and (a in required or a in grouped or not stops)]
        for a in options or [None]:
            given = dict(base)
            if a is not None:
                group = next((g for g in parser._mutually_exclusive_groups
                              if a in g._group_actions), None)
                if group is not None:   # it replaces its alternative
                    given = {b: v for b, v in given.items() if b not in group._group_actions}
                given[a] = unusable
            if not any(_is_path(b) for b in given):
                continue
            words = [w for b, v in given.items() for w in _words(b, v)]
            cases.append(([*path, *words], exits.USAGE,
                          f"unusable {max(a.option_strings or [a.dest], key=len)}"
                          if a is not None else "unusable path",
                          a is not None and a not in required, path in REPORTERS))
    assert len(cases) > len(LEAVES)
    _run_all(cases)


def test_a_stopped_server_is_one_line_and_exit_6(stopped_server, index_dir, tmp_path):
    csv = tmp_path / "return.csv"
    csv.write_text("record_id,nik,kind,value\nr-1,3201014507900001,bank_cif,C-1\n")
    good = {"file": str(csv), "index": str(index_dir)}   # inputs read before the call
    cases = []
    for path, parser in LEAVES.items():
        conn = next((a for a in parser._actions if "--connection" in a.option_strings), None)
        if conn is None or path in STOPPED_SKIP:
            continue
        group = next((g._group_actions for g in parser._mutually_exclusive_groups
                      if conn in g._group_actions), [])
        given = {a: good.get(a.dest) or _plausible(a) for a in _required(parser)
                 if a is not conn and a not in group}
        words = [w for a, v in given.items() for w in _words(a, v)]
        if "--as" not in words:
            words += ["--as", "ops" if path in (("obligations",), ("index", "status"))
                      else "bank-a"]
        if path == ("bench",):
            words += ["--index", str(index_dir), "--duration", "1"]
        cases.append(([*path, "--connection", str(stopped_server), *words,
                       *STOPPED_EXTRA.get(path, [])], exits.UNAVAILABLE, "stopped server"))
    assert len(cases) >= 5
    _run_all(cases)


def test_verbose_adds_the_traceback_before_the_line(tmp_path):
    missing = str(tmp_path / "none.json")
    for argv in (["-v", "lookup", "--connection", missing, "--nik", "3201014507900001",
                  "--fields", "NAMA_LGKP"],
                 ["lookup", "--connection", missing, "--nik", "3201014507900001",
                  "--fields", "NAMA_LGKP", "-v"]):
        r = run_cli(*argv)
        assert r.returncode == exits.USAGE
        assert "Traceback" in r.stderr and r.stderr.strip().splitlines()[-1].startswith(
            "nikgate: error: cannot read the connection file"), r.stderr


def test_the_exit_codes_are_in_help_and_in_the_readme():
    parser = build_parser()
    top = parser.format_help()
    for code, short, full in exits.EXIT_CODES:
        assert f"{code:>3}  {short}: {full}" in top
    for path, leaf in LEAVES.items():
        assert exits.help_pointer() in leaf.format_help(), path
    rows = re.findall(r"^\| (\d+) \| ([^|]+) \| ([^|]+) \|$", README.read_text(), re.M)
    assert [(int(c), s.strip(), f.strip()) for c, s, f in rows] == list(exits.EXIT_CODES)


def _connection_file(certs, tmp_path, port: int, client: str, ca: bytes) -> Path:
    key, cert = getattr(certs, client)
    (tmp_path / "ca.crt").write_bytes(ca)
    (tmp_path / "client.key").write_bytes(key)
    (tmp_path / "client.crt").write_bytes(cert)
    path = tmp_path / "connection.json"
    path.write_text(json.dumps({
        "address": f"127.0.0.1:{port}", "ca": "ca.crt",
        "institutions": {"bank-a": {"cert": "client.crt", "key": "client.key"}}}))
    return path


def test_a_certificate_the_server_refuses_is_one_line_with_a_hint(server, certs, tmp_path):
    """Under TLS 1.3 the server's refusal shows only as a closed connection: the line says
    what to check, and the exit stays 6 (a restarting server looks the same)."""
    conn = _connection_file(certs, tmp_path, server.port, "other_ca", certs.ca)
    r = run_cli("lookup", "--connection", str(conn), "--as", "bank-a",
                "--nik", "3201014507900001", "--fields", "NAMA_LGKP", timeout=BOUND)
    [line] = r.stderr.strip().splitlines()
    assert "Traceback" not in r.stdout + r.stderr
    assert ("the server did not accept this certificate: is it issued by the nikgate CA and "
            "not revoked?") in line, line
    assert r.returncode in (exits.REFUSED, exits.UNAVAILABLE), (r.returncode, line)
    revoked = _connection_file(certs, tmp_path, server.port, "revoked", certs.ca)
    r = run_cli("lookup", "--connection", str(revoked), "--as", "bank-a",
                "--nik", "3201014507900001", "--fields", "NAMA_LGKP", timeout=BOUND)
    [line] = r.stderr.strip().splitlines()
    assert r.returncode == exits.REFUSED and "revoked" in line, (r.returncode, line)


def test_a_server_certificate_we_do_not_trust_is_one_line_with_a_hint(server, certs,
                                                                      tmp_path):
    other_ca = (certs.pki_dir.parent / "other" / "ca" / "ca.crt").read_bytes()
    conn = _connection_file(certs, tmp_path, server.port, "good", other_ca)
    r = run_cli("lookup", "--connection", str(conn), "--as", "bank-a",
                "--nik", "3201014507900001", "--fields", "NAMA_LGKP", timeout=BOUND)
    [line] = r.stderr.strip().splitlines()
    assert "Traceback" not in r.stdout + r.stderr
    assert "the server's certificate is not issued by the CA this connection trusts" in line
    assert r.returncode == exits.REFUSED, (r.returncode, line)
