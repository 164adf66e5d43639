"""Shared fixtures: a synthetic export and a real LMDB index built from it, per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nikgate.engine import NikIndex
from nikgate.engine.build import build_index
from nikgate.synth import write_export

EXPORT_ROWS = 4000


@pytest.fixture(scope="session")
def export_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("warehouse") / "export.csv"
    write_export(path, EXPORT_ROWS, seed=11)
    return path


@pytest.fixture(scope="session")
def index_dir(export_csv, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("index") / "idx"
    report = build_index(export_csv, out, rejects_path=out.parent / "rejects.csv")
    assert report.stored == EXPORT_ROWS, report.summary()
    return out


@pytest.fixture(scope="session")
def index(index_dir) -> NikIndex:
    idx = NikIndex.open(index_dir)
    yield idx
    idx.close()


@pytest.fixture
def index_copy(index_dir, tmp_path) -> Path:
    """A private copy of the session index that a test may damage."""
    dst = tmp_path / "idx"
    shutil.copytree(index_dir, dst, symlinks=True)
    return dst


def run_cli(*args: str, check: bool = False, timeout: float = 300,
            **kw) -> subprocess.CompletedProcess:
    """Run the installed `nikgate` command as a person would."""
    exe = Path(sys.executable).with_name("nikgate")
    cmd = [str(exe) if exe.exists() else sys.executable, *([] if exe.exists() else
           ["-m", "nikgate"]), *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, check=check, env=env,
                          timeout=timeout, **kw)
