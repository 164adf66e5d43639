"""House checks run with the suite, as asyncpg does: ruff over the whole tree."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean():
    # the test extra installs ruff beside the interpreter
    ruff = str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        ruff = shutil.which("ruff") or ruff
    result = subprocess.run([ruff, "check", "--output-format", "concise", str(ROOT)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
