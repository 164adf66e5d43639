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


def test_every_package_is_listed_for_the_wheel():
    """pyproject.toml lists packages by hand (package-dir maps them to top-level folders);
    an editable install finds an unlisted one anyway, a wheel silently leaves it out."""
    import tomllib

    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(tool["packages"])
    found = set()
    for name, folder in tool["package-dir"].items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            if "__pycache__" in rel.parts or any(p.startswith(".") for p in rel.parts):
                continue
            found.add(".".join((name, *rel.parts)))
    missing = sorted(found - listed)
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"
