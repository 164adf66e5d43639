"""Where synthetic people live: district weights, residence codes and birth-place names.

Region codes come from `nikgate.regions` (the Kemendagri table), so every generated NIK
prefix, NO_KK prefix and NO_KEL is a real code.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from nikgate.regions import load_regions

from .pick import Weighted

# Rough resident population per province in millions (mid-2020s order of magnitude,
# rounded; only the proportions matter). Java carries over half of the total.
PROVINCE_POPULATION: dict[int, float] = {
    11: 5.5, 12: 15.4, 13: 5.8, 14: 6.7, 15: 3.7, 16: 8.8, 17: 2.1, 18: 9.4, 19: 1.5,
    21: 2.2, 31: 10.7, 32: 50.3, 33: 37.9, 34: 3.7, 35: 41.6, 36: 12.4, 51: 4.4,
    52: 5.6, 53: 5.6, 61: 5.6, 62: 2.8, 63: 4.2, 64: 4.0, 65: 0.7, 71: 2.7, 72: 3.1,
    73: 9.4, 74: 2.8, 75: 1.2, 76: 1.5, 81: 1.9, 82: 1.3, 91: 1.1, 92: 0.6, 93: 0.5,
    94: 1.4, 95: 1.4, 96: 0.6,
}
# Districts of a city (kota, regency code 71-99) are denser than rural ones.
CITY_DISTRICT_FACTOR = 1.8


@dataclass(frozen=True, slots=True)
class District:
    """Everything the row path needs about one district, computed once."""

    code: int            # 6 digits, e.g. 320101
    index: int           # position in code order (0 .. ~7284)
    province: int        # 2 digits
    regency: int         # 4 digits
    is_city: bool
    nik_prefix: str      # "320101"
    prop: str            # NO_PROP "32"
    kab: str             # NO_KAB "01"
    kec: str             # NO_KEC "01"
    villages: tuple[str, ...]        # NO_KEL values, "2003"
    village_names: tuple[str, ...]   # uppercase names, same order
    place: str           # TMPT_LHR form of the regency, "BOGOR"
    place_prefixed: str  # "KAB. BOGOR" / "KOTA BOGOR"


def place_name(regency_name: str) -> tuple[str, str]:
    """("BOGOR", "KAB. BOGOR") from "Kabupaten Bogor"; cities give ("BOGOR", "KOTA BOGOR")."""
    name = regency_name.upper()
    for prefix, short in (("KABUPATEN ADMINISTRASI ", "KAB. "), ("KOTA ADMINISTRASI ", "KOTA "),
                          ("KABUPATEN ", "KAB. "), ("KOTA ", "KOTA ")):
        if name.startswith(prefix):
            bare = name[len(prefix):]
            return bare, short + bare
    return name, name


@functools.cache
def district_codes() -> tuple[int, ...]:
    """All district codes in code order."""
    return tuple(sorted(load_regions().districts))


@functools.cache
def district_weights() -> tuple[float, ...]:
    """Population weight of each district, aligned with district_codes()."""
    codes = district_codes()
    per_province: dict[int, int] = {}
    for c in codes:
        per_province[c // 10000] = per_province.get(c // 10000, 0) + 1
    out = []
    for c in codes:
        p = c // 10000
        w = PROVINCE_POPULATION.get(p, 1.0) / per_province[p]
        if (c // 100) % 100 >= 71:
            w *= CITY_DISTRICT_FACTOR
        out.append(w)
    return tuple(out)


@functools.cache
def district_table() -> Weighted[int]:
    """Weighted choice over district codes by population."""
    return Weighted(list(zip(district_codes(), district_weights())))


@functools.cache
def _index() -> dict[int, int]:
    return {c: i for i, c in enumerate(district_codes())}


@functools.lru_cache(maxsize=1024)
def district(code: int) -> District:
    """The District record for a 6-digit code (cached; bounded by the region table)."""
    regions = load_regions()
    villages = regions.district_villages(code)
    if not villages:
        raise ValueError(f"district {code} has no villages in {regions!r}")
    regency = code // 100
    plain, prefixed = place_name(regions.regencies[regency])
    return District(
        code=code,
        index=_index()[code],
        province=code // 10000,
        regency=regency,
        is_city=regency % 100 >= 71,
        nik_prefix=f"{code:06d}",
        prop=f"{code // 10000:02d}",
        kab=f"{regency % 100:02d}",
        kec=f"{code % 100:02d}",
        villages=tuple(f"{v % 10000:04d}" for v, _ in villages),
        village_names=tuple(n.upper() for _, n in villages),
        place=plain,
        place_prefixed=prefixed,
    )


@functools.cache
def regencies_of_province() -> dict[int, tuple[int, ...]]:
    """Regency codes grouped by province, for birth places near home."""
    out: dict[int, list[int]] = {}
    for r in sorted(load_regions().regencies):
        out.setdefault(r // 100, []).append(r)
    return {p: tuple(v) for p, v in out.items()}


@functools.cache
def regency_places() -> dict[int, tuple[str, str]]:
    """TMPT_LHR forms of every regency: code -> (plain, prefixed)."""
    return {r: place_name(n) for r, n in load_regions().regencies.items()}
