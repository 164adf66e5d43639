"""The static checks, as part of the suite: ruff, mypy over the whole package, and stubtest
over the compiled core.

A lint finding, a type error or a stub that no longer matches `nikgate.engine._core` fails
here, with the checker's own report as the failure message (tests/typecheck.py explains why
the package is laid out in a scratch directory first).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.typecheck import ROOT, lay_out, run


@pytest.fixture(scope="module")
def type_reports(tmp_path_factory):
    return {checker: (status, output)
            for checker, status, output in run(lay_out(tmp_path_factory.mktemp("types")))}


@pytest.mark.parametrize("checker", ["mypy", "stubtest"])
def test_types_check_clean(type_reports, checker):
    status, output = type_reports[checker]
    assert status == 0, f"{checker} found problems:\n{output}"


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is not installed; `make setup` installs it with the test extras"
    lint = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert lint.returncode == 0, f"ruff found problems:\n{lint.stdout}{lint.stderr}"
