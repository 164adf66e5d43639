"""House checks run with the suite, as asyncpg does: ruff over the whole tree, mypy over the
package and stubtest over the compiled core.

A lint finding, a type error or a stub that no longer matches `nikgate.engine._core` fails
here with the checker's own report (tests/typecheck.py says why the package is first laid
out in a scratch directory).
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.typecheck import lay_out, run

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean():
    # the test extra installs ruff beside the interpreter
    ruff = str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        ruff = shutil.which("ruff") or ruff
    result = subprocess.run([ruff, "check", "--output-format", "concise", str(ROOT)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.fixture(scope="module")
def type_reports(tmp_path_factory):
    return {checker: (status, output)
            for checker, status, output in run(lay_out(tmp_path_factory.mktemp("types")))}


@pytest.mark.parametrize("checker", ["mypy", "stubtest"])
def test_types_check_clean(type_reports, checker):
    status, output = type_reports[checker]
    assert status == 0, f"{checker} found problems:\n{output}"
