"""The machine a benchmark ran on: one record with one set of keys for every bench report.

`machine()` describes this machine for a report being written; `load_machine()` reads the
record of a saved report, including runs saved before the keys were unified (the engine
bench wrote nproc/cpu/ram_gib where the service bench wrote cpus/cpu_model/mem_gib).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path
from typing import Any

# Keys used before there was one record, and the key each means now.
OLD_KEYS = {"nproc": "cpus", "cpu": "cpu_model", "ram_gib": "mem_gib"}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _mem_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)   # kB -> GiB
    except OSError:
        pass
    return None


def machine(**versions: str) -> dict[str, Any]:
    """This machine: cpus, cpu_model, mem_gib, kernel, python and date (UTC), plus the
    versions of whatever the bench measures (e.g. grpcio=..., lmdb_module=...)."""
    return {"cpus": os.cpu_count(), "cpu_model": _cpu_model(), "mem_gib": _mem_gib(),
            "kernel": platform.release(), "python": platform.python_version(),
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **versions}


def load_machine(saved: dict[str, Any]) -> dict[str, Any]:
    """The machine record of a saved report under today's keys (old keys are renamed)."""
    return {OLD_KEYS.get(k, k): v for k, v in saved.items()}


def describe(m: dict[str, Any]) -> str:
    """One line for a report: '2 CPU (model), 7.8 GiB RAM, Python 3.12.3'."""
    return (f"{m.get('cpus', '?')} CPU ({m.get('cpu_model', 'unknown')}), "
            f"{m.get('mem_gib', '?')} GiB RAM, Python {m.get('python', '?')}")
