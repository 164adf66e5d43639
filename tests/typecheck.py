"""Type-check the installed package layout: mypy over `nikgate`, stubtest over the core.

pyproject.toml maps packages to top-level folders (nikgate.engine is engine/, nikgate.server
is server/, ...). mypy only understands folders named like their packages, so this lays the
package out as symlinks in a scratch directory, exactly as it is installed, and runs the
checkers there. Errors name the scratch paths; `nikgate/engine/x.py` is `engine/x.py`.

    python -m tests.typecheck            # mypy, then stubtest; exit status 0 when clean
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Where each subpackage lives in the repository (pyproject.toml, [tool.setuptools]).
MAPPED = {"engine": "engine", "server": "server", "clients": "clients",
          "v1": "proto/nikgate/v1"}
STUBTEST_ALLOWLIST = ROOT / "engine" / "stubtest-allowlist.txt"


def lay_out(where: Path) -> Path:
    """Build `where/nikgate` as symlinks mirroring the installed package; returns `where`."""
    package = where / "nikgate"
    package.mkdir()
    for entry in (ROOT / "nikgate").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for name, folder in MAPPED.items():
        (package / name).symlink_to(ROOT / folder)
    return where


def run(where: Path) -> list[tuple[str, int, str]]:
    """Run mypy and stubtest in a laid-out tree; returns (checker, exit status, output)."""
    env = {**os.environ, "MYPY_CACHE_DIR": str(where / ".mypy_cache")}
    config = ["--config-file", str(ROOT / "pyproject.toml")]
    results = []
    mypy = subprocess.run([sys.executable, "-m", "mypy", *config, "-p", "nikgate"],
                          cwd=where, env=env, capture_output=True, text=True)
    results.append(("mypy", mypy.returncode, mypy.stdout + mypy.stderr))
    allow = (["--allowlist", str(STUBTEST_ALLOWLIST)]
             if STUBTEST_ALLOWLIST.exists() else [])
    stubtest = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "--mypy-config-file", config[1], *allow, "nikgate.engine._core"],
        cwd=where, env=env, capture_output=True, text=True)
    results.append(("stubtest", stubtest.returncode, stubtest.stdout + stubtest.stderr))
    return results


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="nikgate-types-") as scratch:
        failed = 0
        for checker, status, output in run(lay_out(Path(scratch))):
            print(f"== {checker}: {'clean' if status == 0 else 'FAILED'}")
            if status:
                print(output)
                failed = 1
        return failed


if __name__ == "__main__":
    sys.exit(main())
