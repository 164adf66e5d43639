"""Per-person coded attributes: blood type, education, occupation, card and life status.

Each table is a Weighted over Dukcapil's exact spellings (engine.schema tuples); values
are checked against the schema at import so a typo fails loudly.
"""

from __future__ import annotations

from nikgate.engine import schema

from .pick import Weighted


def _table(pairs: dict[str, float], allowed: tuple[str, ...]) -> Weighted[str]:
    unknown = set(pairs) - set(allowed)
    if unknown:
        raise ValueError(f"values not in the schema table: {sorted(unknown)}")
    return Weighted(list(pairs.items()))


def _occ(pairs: dict[str, float]) -> Weighted[str]:
    return _table(pairs, schema.OCCUPATION)


# Most KTP records carry no blood type ("TIDAK TAHU"); rhesus is rarely recorded.
BLOOD = _table({"TIDAK TAHU": 56, "O": 15.5, "B": 11, "A": 9.5, "AB": 3, "O+": 1.6,
                "B+": 1.1, "A+": 0.9, "AB+": 0.3, "O-": 0.04, "A-": 0.03, "B-": 0.03,
                "AB-": 0.01}, schema.BLOOD_TYPE)

E = schema.EDUCATION
# Highest education of adults (>= 23) by birth cohort: index into schema.EDUCATION.
_ADULT_EDU_BY_COHORT = (
    (1955, (25, 20, 35, 8, 9, 0.5, 1, 1.5, 0.1, 0.02)),
    (1975, (8, 12, 32, 17, 24, 1, 2, 4, 0.4, 0.05)),
    (1990, (3, 5, 22, 22, 36, 1.5, 3, 7, 0.8, 0.1)),
    (9999, (1.5, 2.5, 12, 20, 48, 1.5, 3.5, 10, 1, 0.05)),
)
ADULT_EDU = tuple((until, Weighted(list(enumerate(w)))) for until, w in _ADULT_EDU_BY_COHORT)
# ADULT_EDU_BY_YEAR[year - 1900]: the table for that birth year (1900 .. 2030).
ADULT_EDU_BY_YEAR = tuple(next(t for until, t in ADULT_EDU if y <= until)
                          for y in range(1900, 2031))
YOUNG_ADULT_EDU = Weighted([(4, 68), (3, 18), (2, 8), (5, 2), (6, 4)])  # ages 19-22

_MALE_LOW = _occ({
    "PETANI/PEKEBUN": 26, "BURUH HARIAN LEPAS": 20, "WIRASWASTA": 14,
    "BURUH TANI/PERKEBUNAN": 10, "NELAYAN/PERIKANAN": 4, "PEDAGANG": 5, "PERDAGANGAN": 2,
    "SOPIR": 3, "TUKANG BATU": 3, "TUKANG KAYU": 2, "KARYAWAN SWASTA": 4,
    "BELUM/TIDAK BEKERJA": 4, "PETERNAK": 1, "BURUH NELAYAN/PERIKANAN": 1, "KONSTRUKSI": 1,
    "TRANSPORTASI": 1, "MEKANIK": 0.5, "TUKANG CUKUR": 0.2, "TUKANG LAS/PANDAI BESI": 0.3,
    "TUKANG SOL SEPATU": 0.05, "BURUH PETERNAKAN": 0.2, "LAINNYA": 0.5, "TUKANG JAHIT": 0.2,
    "INDUSTRI": 0.5, "TABIB": 0.01, "PARANORMAL": 0.01,
})
_MALE_MID = _occ({
    "KARYAWAN SWASTA": 26, "WIRASWASTA": 22, "PETANI/PEKEBUN": 8, "BURUH HARIAN LEPAS": 10,
    "PEDAGANG": 5, "SOPIR": 4, "KARYAWAN HONORER": 2, "TENTARA NASIONAL INDONESIA": 1,
    "KEPOLISIAN RI": 1, "PERANGKAT DESA": 0.8, "KEPALA DESA": 0.08, "MEKANIK": 1.5,
    "TUKANG LISTRIK": 0.6, "BELUM/TIDAK BEKERJA": 4, "TRANSPORTASI": 1.5,
    "KARYAWAN BUMN": 0.8, "KARYAWAN BUMD": 0.3, "NELAYAN/PERIKANAN": 1.5, "PERDAGANGAN": 2,
    "INDUSTRI": 1, "KONSTRUKSI": 1, "PELAUT": 0.5, "USTADZ/MUBALIGH": 0.3,
    "IMAM MASJID": 0.1, "SENIMAN": 0.2, "JURU MASAK": 0.3, "PENATA RAMBUT": 0.1,
    "LAINNYA": 0.5, "BURUH TANI/PERKEBUNAN": 2, "PEGAWAI NEGERI SIPIL": 2,
})
_MALE_HIGH = _occ({
    "PEGAWAI NEGERI SIPIL": 18, "KARYAWAN SWASTA": 24, "WIRASWASTA": 12, "GURU": 8,
    "DOSEN": 1.5, "DOKTER": 1.2, "KARYAWAN BUMN": 4, "TENTARA NASIONAL INDONESIA": 2,
    "KEPOLISIAN RI": 2, "PERAWAT": 1, "APOTEKER": 0.4, "ARSITEK": 0.3, "AKUNTAN": 0.6,
    "KONSULTAN": 0.6, "PENGACARA": 0.5, "NOTARIS": 0.2, "PENELITI": 0.2, "PILOT": 0.1,
    "WARTAWAN": 0.4, "PENDETA": 0.2, "PASTOR": 0.05, "PIALANG": 0.05,
    "PSIKIATER/PSIKOLOG": 0.1, "PENYIAR RADIO": 0.05, "PENYIAR TELEVISI": 0.03,
    "ANGGOTA DPRD KABUPATEN/KOTA": 0.1, "ANGGOTA DPRD PROVINSI": 0.03,
    "KARYAWAN BUMD": 1, "KARYAWAN HONORER": 3, "PENTERJEMAH": 0.05, "PROMOTOR ACARA": 0.05,
    "BELUM/TIDAK BEKERJA": 3, "PERANGKAT DESA": 0.5, "KEPALA DESA": 0.1, "PEDAGANG": 2,
})
_FEMALE_LOW = _occ({
    "MENGURUS RUMAH TANGGA": 50, "PETANI/PEKEBUN": 12, "BURUH HARIAN LEPAS": 6,
    "BURUH TANI/PERKEBUNAN": 6, "PEDAGANG": 6, "WIRASWASTA": 8, "PEMBANTU RUMAH TANGGA": 2,
    "TUKANG JAHIT": 1, "KARYAWAN SWASTA": 3, "BELUM/TIDAK BEKERJA": 5, "PARAJI": 0.05,
    "PENATA RIAS": 0.2,
})
_FEMALE_MID = _occ({
    "MENGURUS RUMAH TANGGA": 38, "KARYAWAN SWASTA": 20, "WIRASWASTA": 14, "PEDAGANG": 6,
    "BELUM/TIDAK BEKERJA": 5, "KARYAWAN HONORER": 3, "PETANI/PEKEBUN": 3,
    "BURUH HARIAN LEPAS": 3, "TUKANG JAHIT": 1, "PENATA RAMBUT": 0.5, "PENATA RIAS": 0.6,
    "PENATA BUSANA": 0.2, "JURU MASAK": 0.4, "PERAWAT": 0.5, "BIDAN": 0.3,
    "PEGAWAI NEGERI SIPIL": 1.5, "PERDAGANGAN": 1, "INDUSTRI": 1,
})
_FEMALE_HIGH = _occ({
    "GURU": 18, "PEGAWAI NEGERI SIPIL": 16, "KARYAWAN SWASTA": 20,
    "MENGURUS RUMAH TANGGA": 12, "WIRASWASTA": 7, "BIDAN": 3, "PERAWAT": 4, "DOSEN": 1.2,
    "DOKTER": 1.2, "APOTEKER": 0.6, "AKUNTAN": 0.6, "KARYAWAN BUMN": 2.5,
    "KARYAWAN HONORER": 4, "BELUM/TIDAK BEKERJA": 3, "PSIKIATER/PSIKOLOG": 0.2,
    "NOTARIS": 0.2, "PENGACARA": 0.2, "BIARAWATI": 0.05, "PENELITI": 0.2, "KONSULTAN": 0.3,
    "TUKANG GIGI": 0.02, "PENYIAR RADIO": 0.05, "WARTAWAN": 0.2, "PEDAGANG": 2,
    "PERANCANG BUSANA": 0.05,
})
_MALE_OLD = _occ({"BELUM/TIDAK BEKERJA": 35, "PETANI/PEKEBUN": 25, "PENSIUNAN": 12,
                  "WIRASWASTA": 8, "PEDAGANG": 4, "BURUH HARIAN LEPAS": 3})
_MALE_OLD_EDUCATED = _occ({"PENSIUNAN": 45, "BELUM/TIDAK BEKERJA": 25, "WIRASWASTA": 15,
                           "PETANI/PEKEBUN": 8, "PEDAGANG": 5, "DOSEN": 0.5})
_FEMALE_OLD = _occ({"MENGURUS RUMAH TANGGA": 50, "BELUM/TIDAK BEKERJA": 30, "PENSIUNAN": 5,
                    "PETANI/PEKEBUN": 8, "PEDAGANG": 4})
_FEMALE_OLD_EDUCATED = _occ({"PENSIUNAN": 40, "MENGURUS RUMAH TANGGA": 35,
                             "BELUM/TIDAK BEKERJA": 20, "WIRASWASTA": 5})
# OCCUPATION_BY[sex][band]: band 0 = at most primary, 1 = secondary, 2 = diploma and up,
# 3 = aged 65+ with little schooling, 4 = aged 65+ with secondary or more.
OCCUPATION_BY = (
    (_MALE_LOW, _MALE_MID, _MALE_HIGH, _MALE_OLD, _MALE_OLD_EDUCATED),
    (_FEMALE_LOW, _FEMALE_MID, _FEMALE_HIGH, _FEMALE_OLD, _FEMALE_OLD_EDUCATED),
)
STUDENT = "PELAJAR/MAHASISWA"
NOT_WORKING = "BELUM/TIDAK BEKERJA"
HOUSEWIFE = "MENGURUS RUMAH TANGGA"

# Probability of being recorded as dead (STATUS_HIDUP MATI) by age band; ~2% overall.
DEATH_BY_AGE = ((1, 0.004), (40, 0.0025), (60, 0.012), (70, 0.05), (80, 0.12), (200, 0.3))
DEATH_P = tuple(next(p for limit, p in DEATH_BY_AGE if a < limit) for a in range(101))

# Card status of people old enough for a KTP-el (17+): ~3% replaced, ~0.2% blocked overall.
ADULT_CARD = _table({"AKTIF": 95.6, "DIGANTI": 4.1, "DIBLOKIR": 0.28}, schema.CARD_STATUS)
