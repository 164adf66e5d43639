"""The record changes a delta carries: newborns (BARU) and updates (UBAH) of base rows.

Every function takes a base row (a list in schema.REQUIRED_COLUMNS order) and returns a
new row; base rows are never modified in place. Event dates fall in the first half of
2026, after the base snapshot (dates.AS_OF).
"""

from __future__ import annotations

import random

from nikgate.engine import schema

from . import culture, geo, names
from .address import address, rt_rw
from .dates import AS_OF_ORD, DDMMYY, FEMALE_DAY_OFFSET, FIRST_ORD, ISO, ordinal
from .people import (
    AGAMA,
    ALAMAT,
    AYAH,
    BLOOD,
    HIDUP,
    KAB,
    KAWIN,
    KEC,
    KEL,
    KTP,
    NAMA,
    NIK,
    NO_KK,
    PDDK,
    PKRJN,
    PROP,
    RT,
    RW,
    SEX,
    TGL,
    TGL_MATI,
    TMPT,
    WN,
    add_later_fields,
)
from .pick import Weighted
from .serials import DELTA_MAX_SERIAL, DELTA_MIN_SERIAL, NikSerials

EVENT_DAYS = 181  # events happen on 2026-01-01 .. 2026-06-30


class DeltaState:
    """Counters for the numbers a delta issues: newborn NIKs and new KKs (bounded by changes)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.niks = NikSerials(first=DELTA_MIN_SERIAL, limit=DELTA_MAX_SERIAL)
        self._kk: dict[int, int] = {}

    def event_ord(self) -> int:
        return AS_OF_ORD + int(self.rng.random() * EVENT_DAYS)

    def new_kk(self, district: int) -> str:
        """A NO_KK issued in 2026 (a year the base never uses) in `district`."""
        while True:
            key = DDMMYY[self.event_ord() - FIRST_ORD]
            full = district * 1_000_000 + key
            n = self._kk.get(full, 0) + 1
            if n <= 9999:
                self._kk[full] = n
                return f"{district:06d}{key:06d}{n:04d}"


def _district_of(row: list[str]) -> int:
    return int(row[PROP] + row[KAB] + row[KEC])


_NOBLE = names.BALI_NOBLE_M + names.BALI_NOBLE_F
_BATAK = frozenset(names.BATAK_CLAN + names.BATAK_MUSLIM_CLAN)
_TIMUR = {s: sub for sub, pool in names.TIMUR_SURNAME.items() for s in pool}
_TIONGHOA = frozenset(names.TIONGHOA_SURNAME)


_TITLES = frozenset({"H.", "HJ.", "DR.", "IR.", "DRS.", "DRA."})


def _core(name: str) -> str:
    """A name without degrees (", S.KOM") and leading titles (H., DR. ...)."""
    name = name.split(",", 1)[0]
    words = name.split()
    while len(words) > 1 and words[0] in _TITLES:
        words.pop(0)
    return " ".join(words)


def _family(row: list[str]) -> tuple[int, int, str]:
    """(tradition, timur sub-pool, surname) of a child's family, read from the names."""
    father = _core(row[AYAH])
    last = father.rsplit(" ", 1)[-1] if father else ""
    own = row[NAMA]
    if own.startswith(("I ", "NI ")) or own.startswith(_NOBLE):
        return culture.BALI, 0, ""
    if last in _BATAK:
        return culture.BATAK, 0, last
    if last in _TIMUR:
        return culture.TIMUR, _TIMUR[last], last
    if last in _TIONGHOA:
        return culture.TIONGHOA, 0, last
    group = culture.group_table(int(row[PROP])).items[0]  # the province's main tradition
    if group in (culture.BATAK, culture.TIMUR, culture.BALI):
        group = culture.MELAYU if row[AGAMA] == culture.ISLAM else culture.JAWA
    return group, 0, ""


def newborn(state: DeltaState, sibling: list[str]) -> list[str]:
    """BARU: a baby born in 2026 into a sibling's household, with a NIK serial >= 9000."""
    rng = state.rng
    rnd = rng.random
    sex = 0 if rnd() < 0.51 else 1
    district = _district_of(sibling)
    prefix = f"{district:06d}"
    while True:
        born = state.event_ord()
        nik = state.niks.nik(DDMMYY[born - FIRST_ORD] + (FEMALE_DAY_OFFSET if sex else 0),
                             prefix)
        if nik is not None:
            break
    group, _, surname = _family(sibling)
    name = names.core_name(rng, group, sex, 2026, sibling[AGAMA], surname, order=3)
    place = geo.regency_places().get(district // 100, (sibling[TMPT], ""))[0]
    row = list(sibling)
    row[NIK], row[NAMA], row[TMPT], row[TGL] = nik, name, place, ISO[born - FIRST_ORD]
    row[SEX], row[BLOOD] = schema.SEX[sex], "TIDAK TAHU"
    row[KAWIN] = "BELUM KAWIN"
    row[PDDK], row[PKRJN] = "TIDAK/BELUM SEKOLAH", "BELUM/TIDAK BEKERJA"
    row[WN], row[HIDUP], row[TGL_MATI], row[KTP] = "WNI", "HIDUP", "", "AKTIF"
    return add_later_fields(rng, row)  # the baby's own, not the sibling's


def _age(row: list[str]) -> int:
    return int((AS_OF_ORD - ordinal(row[TGL])) / 365.2425)


def move(state: DeltaState, row: list[str]) -> list[str]:
    """UBAH: the household moves, to another village of its district or to another district.

    A move gets a new KK numbered in the new district; relation and NIK stay.
    """
    rng = state.rng
    district = _district_of(row)
    if rng.random() < 0.5 or district not in geo.district_codes():
        d = geo.district(geo.district_table().pick(rng.random))
    else:
        d = geo.district(district)
    v = int(rng.random() * len(d.villages))
    new = list(row)
    new[NO_KK] = state.new_kk(d.code)
    new[ALAMAT] = address(rng, d.province, d.is_city, d.village_names[v])
    new[RT], new[RW] = rt_rw(rng, d.is_city)
    new[PROP], new[KAB], new[KEC], new[KEL] = d.prop, d.kab, d.kec, d.villages[v]
    return new


def death(state: DeltaState, row: list[str]) -> list[str]:
    """UBAH: recorded death, with TGL_MATI in 2026."""
    new = list(row)
    new[HIDUP] = "MATI"
    new[TGL_MATI] = ISO[max(state.event_ord(), ordinal(row[TGL]) + 1) - FIRST_ORD]
    return new


def card(state: DeltaState, row: list[str]) -> list[str]:
    """UBAH: the KTP-el was replaced (lost or damaged): DIGANTI; a dead person's is blocked."""
    new = list(row)
    new[KTP] = "DIBLOKIR" if row[HIDUP] == "MATI" else "DIGANTI"
    return new


def death_date_fix(state: DeltaState, row: list[str]) -> list[str]:
    """UBAH: a corrected date of death (a few days to a year earlier, after birth)."""
    new = list(row)
    died = ordinal(row[TGL_MATI]) - 1 - int(state.rng.random() * 365)
    new[TGL_MATI] = ISO[max(died, ordinal(row[TGL]) + 1) - FIRST_ORD]
    if new[TGL_MATI] == row[TGL_MATI]:  # died the day after birth: fix the place instead
        new[TMPT] = geo.regency_places().get(_district_of(row) // 100, ("-", ""))[1]
    return new


def marriage(state: DeltaState, row: list[str]) -> list[str]:
    """UBAH: a marriage (BELUM KAWIN -> KAWIN) or a divorce (KAWIN -> CERAI HIDUP)."""
    new = list(row)
    new[KAWIN] = "KAWIN" if row[KAWIN] != "KAWIN" else "CERAI HIDUP"
    return new


_KINDS = Weighted([(move, 35), (card, 25), (marriage, 20), (death, 20)])


def update(state: DeltaState, row: list[str]) -> list[str]:
    """UBAH: one plausible change for this record (deaths favour the old)."""
    rnd = state.rng.random
    if row[HIDUP] == "MATI":
        return card(state, row) if row[KTP] != "DIBLOKIR" else death_date_fix(state, row)
    age = _age(row)
    for _ in range(8):
        kind = _KINDS.pick(rnd)
        if kind is death and age < 60 and rnd() < 0.8:
            continue
        if kind is marriage and (age < 19 or row[KAWIN] not in ("BELUM KAWIN", "KAWIN")):
            continue
        if kind is card and (age < 17 or row[KTP] != "AKTIF"):
            continue
        return kind(state, row)
    return move(state, row)
