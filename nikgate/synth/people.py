"""Households and their members for one district: the per-row generation path.

A household is a list of rows (lists of strings in schema.REQUIRED_COLUMNS order): the
head first, then the wife, children, and sometimes a grandparent, a married daughter with
her husband and children, or another relative. Members share NO_KK, ALAMAT, RT/RW and
the residence codes; children carry their parents' names as NAMA_LGKP_AYAH / _IBU.
"""

from __future__ import annotations

import random

from nikgate.engine import schema

from . import attrs, culture, fields, geo, names
from .address import address, rt_rw
from .dates import (
    AS_OF_ORD,
    DAYS_PER_YEAR,
    DDMMYY,
    FEMALE_DAY_OFFSET,
    FIRST_ORD,
    ISO,
    YEAR,
    ordinal,
)
from .pick import Weighted, uniform
from .serials import LOCAL_KK_FIRST_ORD, KkSerials, NikSerials

# The columns this module models, at their positions; the export's columns
# (schema.REQUIRED_COLUMNS, stored fields in Field order) start with them, checked so a
# reordered schema fails at import. Later fields' values come from fields.py.
HOUSEHOLD_COLUMNS = (
    "NIK", "NO_KK", "NAMA_LGKP", "TMPT_LHR", "TGL_LHR", "JENIS_KLMIN", "GOL_DARAH", "AGAMA",
    "STATUS_KAWIN", "STAT_HBKEL", "PDDK_AKH", "JENIS_PKRJN", "NAMA_LGKP_IBU",
    "NAMA_LGKP_AYAH", "ALAMAT", "NO_RT", "NO_RW", "NO_PROP", "NO_KAB", "NO_KEC", "NO_KEL",
    "KEWARGANEGARAAN", "STATUS_HIDUP", "TGL_MATI", "STATUS_KTP",
)
if schema.REQUIRED_COLUMNS[:len(HOUSEHOLD_COLUMNS)] != HOUSEHOLD_COLUMNS:
    raise ImportError("nikgate.synth.people.HOUSEHOLD_COLUMNS is out of step with "
                      "schema.REQUIRED_COLUMNS")
COLUMNS = schema.REQUIRED_COLUMNS
(NIK, NO_KK, NAMA, TMPT, TGL, SEX, BLOOD, AGAMA, KAWIN, HBKEL, PDDK, PKRJN, IBU, AYAH,
 ALAMAT, RT, RW, PROP, KAB, KEC, KEL, WN, HIDUP, TGL_MATI, KTP) = range(len(HOUSEHOLD_COLUMNS))
# The generators of the columns after the modelled ones (fails here, naming a field that
# has none).
LATER_FIELDS = fields.generators(COLUMNS[len(HOUSEHOLD_COLUMNS):])


def add_later_fields(rng: random.Random, row: list[str]) -> list[str]:
    """`row` (the modelled columns) with the later fields' values appended or replaced."""
    del row[len(HOUSEHOLD_COLUMNS):]
    if LATER_FIELDS:
        so_far = dict(zip(HOUSEHOLD_COLUMNS, row, strict=True))
        for name, generate in zip(COLUMNS[len(HOUSEHOLD_COLUMNS):], LATER_FIELDS, strict=True):
            so_far[name] = value = generate(rng, so_far)
            row.append(value)
    return row

MALE, FEMALE = 0, 1
SEX_STR = schema.SEX
BELUM_KAWIN, KAWIN_, CERAI_HIDUP, CERAI_MATI = schema.MARITAL_STATUS
EDU = schema.EDUCATION
LAST_BASE_ORD = AS_OF_ORD - 1  # 2025-12-31: latest date in a base export

MOVER_SHARE = 0.05     # households living outside the district that issued their NIKs
WNA_SHARE = 0.0015     # households with a foreign spouse (KEWARGANEGARAAN WNA)
EMPTY_CODED = 0.003    # PDDK_AKH / JENIS_PKRJN left empty (both may be empty in an export)
NO_FATHER = 0.12       # children of single mothers recorded without the father's name

# Age of a household head (18-95): few very young heads, a broad middle, a thin old tail.
HEAD_AGE = Weighted(
    [(a, 0.4 * (a - 17)) for a in range(18, 23)]
    + [(a, 2.0 + 0.3 * (a - 23)) for a in range(23, 31)]
    + [(a, 4.5) for a in range(31, 56)]
    + [(a, 4.5 - 0.19 * (a - 55)) for a in range(56, 76)]
    + [(a, max(0.05, 0.7 - 0.035 * (a - 75))) for a in range(76, 96)]
)
SPOUSE_GAP = Weighted([(-3, 2), (-2, 3), (-1, 5), (0, 7), (1, 9), (2, 10), (3, 10), (4, 9),
                       (5, 8), (6, 6), (7, 5), (8, 4), (10, 3), (12, 2), (15, 1)])
CHILDREN = Weighted([(0, 8), (1, 17), (2, 29), (3, 23), (4, 13), (5, 6), (6, 3), (7, 1)])
HOUSEHOLD = Weighted([("couple", 82), ("mother", 8), ("father", 2), ("young", 5),
                      ("widowed", 3)])
FOREIGN_PLACES = ("SINGAPURA", "KUALA LUMPUR", "TOKYO", "SEOUL", "BEIJING", "SYDNEY",
                  "AMSTERDAM", "LONDON", "MANILA", "BANGKOK", "DILI", "PERTH")


def _age(birth_ord: int) -> int:
    return int((AS_OF_ORD - birth_ord) / DAYS_PER_YEAR)


class DistrictGenerator:
    """Generates the households whose NIKs were issued in one district.

    State (NIK and KK counters) lives only as long as the generator, i.e. one district.
    """

    def __init__(self, code: int, seed: int) -> None:
        self.d = d = geo.district(code)
        self.rng = rng = random.Random(f"nikgate.synth:{seed}:{code}")
        self.rnd = rng.random
        self.niks = NikSerials(d.nik_prefix)
        self.kks = KkSerials(d.index)
        self.groups = culture.group_table(d.province)
        self.sub = culture.timur_subpool(d.province)
        province_regencies = geo.regencies_of_province()[d.province]
        places = geo.regency_places()
        self.near_places = tuple(places[r][0] for r in province_regencies)
        self.all_places = places
        self.districts = geo.district_table()

    # -- households ----------------------------------------------------------------------
    def _residence(self) -> tuple[geo.District, str]:
        """Where the next household lives, and its NO_KK (issue date chosen here)."""
        d, rnd = self.d, self.rnd
        if rnd() < MOVER_SHARE:
            for _ in range(4):
                code = self.districts.pick(rnd)
                if code != d.code:
                    kk = self.kks.mover(code, int(rnd() * 1100))
                    if kk is not None:
                        return geo.district(code), kk
        while True:
            issue = LOCAL_KK_FIRST_ORD + int(rnd() * (LAST_BASE_ORD - LOCAL_KK_FIRST_ORD))
            kk = self.kks.local(d.nik_prefix, issue)
            if kk is not None:
                return d, kk

    def household(self) -> list[list[str]]:
        """One household's rows, head first; the caller trims it to the district quota."""
        rng, rnd = self.rng, self.rnd
        home, kk = self._residence()
        v = int(rnd() * len(home.villages))
        rt, rw = rt_rw(rng, home.is_city)
        shared = (kk, address(rng, home.province, home.is_city, home.village_names[v]),
                  rt, rw, home.prop, home.kab, home.kec, home.villages[v])
        group = self.groups.pick(rnd)
        religion = culture.religion_table(group, self.sub).pick(rnd)
        noble = group == culture.BALI and rnd() < 0.06
        ctx = (group, religion, noble, shared)
        kind = HOUSEHOLD.pick(rnd)
        rows: list[list[str]] = []

        if kind == "young":
            age = 18 + int(rnd() * 17)
            sex = MALE if rnd() < 0.6 else FEMALE
            head = self._member(ctx, sex, age, "KEPALA KELUARGA", BELUM_KAWIN)
            return [head]
        if kind == "widowed":
            age = 60 + int(rnd() * 36)
            sex = FEMALE if rnd() < 0.7 else MALE
            head = self._member(ctx, sex, age, "KEPALA KELUARGA", CERAI_MATI)
            return [head]

        head_age = HEAD_AGE.pick(rnd)
        surname = names.family_name(rng, group, self.sub, religion)
        if kind == "couple":
            head_sex = MALE
            head = self._member(ctx, MALE, head_age, "KEPALA KELUARGA", KAWIN_,
                                surname=surname)
            wife_age = max(17, head_age - SPOUSE_GAP.pick(rnd))
            wife_surname = names.family_name(rng, group, self.sub, religion)
            wife = self._member(ctx, FEMALE, wife_age, "ISTRI", KAWIN_, surname=wife_surname,
                                foreign=rnd() < WNA_SHARE)
            if head[HIDUP] == "MATI" and wife[HIDUP] == "HIDUP":
                wife[KAWIN] = CERAI_MATI
            elif wife[HIDUP] == "MATI" and head[HIDUP] == "HIDUP":
                head[KAWIN] = CERAI_MATI
            rows += (head, wife)
            father, mother, mother_age = head[NAMA], wife[NAMA], wife_age
        else:
            head_sex = FEMALE if kind == "mother" else MALE
            status = CERAI_MATI if rnd() < 0.55 else CERAI_HIDUP
            head_age = max(head_age, 24)
            head = self._member(ctx, head_sex, head_age, "KEPALA KELUARGA", status,
                                surname=surname if head_sex == MALE else "")
            rows.append(head)
            if head_sex == FEMALE:
                mother, mother_age = head[NAMA], head_age
                father = "" if rnd() < NO_FATHER else self._name(
                    ctx, MALE, head_age + 3, surname)
                if group in (culture.BATAK, culture.TIMUR):
                    surname = father.rsplit(" ", 1)[-1] if father else ""
            else:
                father = head[NAMA]
                mother_age = max(18, head_age - 3)
                mother = self._name(ctx, FEMALE, mother_age, "")

        # Children: born when the mother was 19-41; most leave home by their late 20s.
        n = CHILDREN.pick(rnd)
        ages = sorted([mother_age - 19 - int(rnd() * 23) for _ in range(n)], reverse=True)
        ages = [a for a in ages if a >= 0 and (a <= 27 or rnd() < 0.25)]
        daughters: list[list[str]] = []
        for order, age in enumerate(ages):
            sex = MALE if rnd() < 0.51 else FEMALE
            child = self._member(ctx, sex, age, "ANAK", BELUM_KAWIN, father=father,
                                 mother=mother, surname=surname, order=order)
            rows.append(child)
            if sex == FEMALE and age >= 21 and child[HIDUP] == "HIDUP":
                daughters.append(child)

        r = rnd()
        if daughters and head_age >= 46 and r < 0.2:
            self._married_daughter(ctx, rows, daughters[0])
        elif kind == "couple" and head_age <= 62 and r < 0.27:
            # A widowed parent of the head (ORANG TUA) or of the wife (MERTUA), whose name
            # is the one already recorded as the head's / wife's parent.
            of = head if rnd() < 0.55 else rows[1]
            rel = "ORANG TUA" if of is head else "MERTUA"
            sex = FEMALE if rnd() < 0.7 else MALE
            age = min(100, _age(_birth_ord_of(of)) + 20 + int(rnd() * 18))
            name = of[IBU] if sex == FEMALE else of[AYAH]
            if name:
                rows.append(self._member(ctx, sex, age, rel, CERAI_MATI, name=name))
        elif r < 0.3:
            age = 8 + int(rnd() * 22)
            sex = MALE if rnd() < 0.5 else FEMALE
            rows.append(self._member(ctx, sex, age, "FAMILI LAIN", BELUM_KAWIN,
                                     surname=names.family_name(rng, group, self.sub, religion)))
        return rows

    def _married_daughter(self, ctx, rows: list[list[str]], daughter: list[str]) -> None:
        """A married daughter stays home: her husband (MENANTU) and children (CUCU) join."""
        rng, rnd = self.rng, self.rnd
        group, religion = ctx[0], ctx[1]
        daughter[KAWIN] = KAWIN_
        d_age = _age(_birth_ord_of(daughter))
        surname = names.family_name(rng, group, self.sub, religion)
        husband = self._member(ctx, MALE, d_age + int(rnd() * 6), "MENANTU", KAWIN_,
                               surname=surname)
        rows.append(husband)
        for order in range(int(rnd() * 3)):
            age = d_age - 20 - int(rnd() * 6) - 2 * order
            if age < 0:
                break
            sex = MALE if rnd() < 0.51 else FEMALE
            rows.append(self._member(ctx, sex, age, "CUCU", BELUM_KAWIN, father=husband[NAMA],
                                     mother=daughter[NAMA], surname=surname, order=order))

    # -- one person ------------------------------------------------------------------------
    def _name(self, ctx, sex: int, age: int, surname: str) -> str:
        """The name of someone outside the household (a parent of a member)."""
        group, religion, noble = ctx[0], ctx[1], ctx[2]
        year = 2025 - age
        core = names.core_name(self.rng, group, sex, year, religion, surname,
                               int(self.rnd() * 4), noble)
        return names.decorate(self.rng, core, sex, age, year, religion, 2, False)

    def _member(self, ctx, sex: int, age: int, rel: str, kawin: str, *, father: str | None = None,
                mother: str | None = None, surname: str = "", order: int = 0,
                name: str | None = None, foreign: bool = False) -> list[str]:
        """One row. Parents' names are generated when not given (they are not members)."""
        rng, rnd, d = self.rng, self.rnd, self.d
        group, religion, noble, shared = ctx
        age = min(age, 100)
        # Birth date; the NIK serial space of a (date, sex) key is 8999 people per
        # district, so on exhaustion the birth date moves by a day.
        birth = AS_OF_ORD - 1 - int((age + rnd()) * DAYS_PER_YEAR)
        birth = max(birth, AS_OF_ORD - 36889)  # not older than 100 years
        while True:
            key = DDMMYY[birth - FIRST_ORD] + (FEMALE_DAY_OFFSET if sex else 0)
            nik = self.niks.nik(key)
            if nik is not None:
                break
            birth += 1 if age > 50 else -1
        year = YEAR[birth - FIRST_ORD]

        # Education and occupation follow age.
        if age < 5:
            edu, occ = 0, attrs.NOT_WORKING
        elif age < 19:
            edu = 0 if age < 7 else (1 if age < 13 else (2 if age < 16 else 3))
            occ = attrs.STUDENT if rnd() < 0.97 or age < 15 else attrs.NOT_WORKING
        else:
            if age < 23:
                edu = attrs.YOUNG_ADULT_EDU.pick(rnd)
            else:
                edu = attrs.ADULT_EDU_BY_YEAR[year - 1900].pick(rnd)
                if sex == FEMALE and year < 1975 and edu > 2 and rnd() < 0.25:
                    edu -= 1
            band = 0 if edu <= 2 else (1 if edu <= 4 else 2)
            if age >= 65:
                band = 4 if edu >= 4 else 3
            if age < 23 and edu >= 4 and rnd() < 0.45:
                occ = attrs.STUDENT
            elif rel == "ISTRI" and band < 2 and rnd() < 0.3:
                occ = attrs.HOUSEWIFE
            else:
                occ = attrs.OCCUPATION_BY[sex][band].pick(rnd)
        if foreign:
            full, place, wn = names.foreign_name(rng, sex), uniform(FOREIGN_PLACES, rnd), "WNA"
        else:
            wn = "WNI"
            if name is None:
                name = names.core_name(rng, group, sex, year, religion, surname, order, noble)
                full = names.decorate(rng, name, sex, age, year, religion, edu,
                                      occ == "DOKTER")
            else:
                full = name
            r = rnd()
            if r < 0.80:
                place = d.place
            elif r < 0.84:
                place = d.place_prefixed
            elif r < 0.94:
                place = uniform(self.near_places, rnd)
            else:
                place = self.all_places[self.districts.pick(rnd) // 100][0]
        if father is None:
            father = self._name(ctx, MALE, age + 28, surname)
        if mother is None:
            mother = self._name(ctx, FEMALE, age + 25, "")

        # Recorded deaths are rare and concentrated among the old.
        if rnd() < attrs.DEATH_P[age]:
            alive = "MATI"
            span = min(AS_OF_ORD - 1 - birth, 3650)
            died = ISO[AS_OF_ORD - 1 - int(rnd() * span) - FIRST_ORD]
        else:
            alive, died = "HIDUP", ""
        card = attrs.ADULT_CARD.pick(rnd) if age >= 17 else "AKTIF"
        edu_s = EDU[edu] if rnd() >= EMPTY_CODED else ""
        occ_s = occ if rnd() >= EMPTY_CODED else ""
        kk, alamat, rt, rw, prop, kab, kec, kel = shared
        return add_later_fields(rng, [
            nik, kk, full, place, ISO[birth - FIRST_ORD], SEX_STR[sex], attrs.BLOOD.pick(rnd),
            religion, kawin, rel, edu_s, occ_s, mother, father, alamat, rt, rw, prop, kab, kec,
            kel, wn, alive, died, card])


def _birth_ord_of(row: list[str]) -> int:
    return ordinal(row[TGL])
