"""The population record: field names, code tables and the warehouse CSV columns.

One table per coded field maps Dukcapil's spelling of a value to the small integer stored
in the index. Code 0 always means "no value". The order of each tuple is the on-disk code
(position + 1), so entries are only ever appended: reordering would change stored data.
"""

from __future__ import annotations

from typing import Final

# Field, Kind and TextKind are numbered for the compiled core: defined in constants.py (the one
# source setup.py renders into the core), re-exported here with the rest of the record.
from .constants import CARD_STATUS as CARD_STATUS
from .constants import LIFE_STATUS as LIFE_STATUS
from .constants import MAX_TEXT_BYTES as MAX_TEXT_BYTES
from .constants import N_COLUMNS
from .constants import SEX as SEX
from .constants import Field as Field
from .constants import Kind as Kind
from .constants import TextKind as TextKind

BLOOD_TYPE: Final = (
    "A", "B", "AB", "O", "A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-", "TIDAK TAHU",
)
RELIGION: Final = (
    "ISLAM", "KRISTEN", "KATHOLIK", "HINDU", "BUDHA", "KONGHUCU",
    "KEPERCAYAAN TERHADAP TUHAN YME",
)
MARITAL_STATUS: Final = ("BELUM KAWIN", "KAWIN", "CERAI HIDUP", "CERAI MATI")
FAMILY_RELATION: Final = (
    "KEPALA KELUARGA", "SUAMI", "ISTRI", "ANAK", "MENANTU", "CUCU", "ORANG TUA", "MERTUA",
    "FAMILI LAIN", "PEMBANTU", "LAINNYA",
)
EDUCATION: Final = (
    "TIDAK/BELUM SEKOLAH", "BELUM TAMAT SD/SEDERAJAT", "TAMAT SD/SEDERAJAT",
    "SLTP/SEDERAJAT", "SLTA/SEDERAJAT", "DIPLOMA I/II", "AKADEMI/DIPLOMA III/SARJANA MUDA",
    "DIPLOMA IV/STRATA I", "STRATA II", "STRATA III",
)
OCCUPATION: Final = (
    "BELUM/TIDAK BEKERJA", "MENGURUS RUMAH TANGGA", "PELAJAR/MAHASISWA", "PENSIUNAN",
    "PEGAWAI NEGERI SIPIL", "TENTARA NASIONAL INDONESIA", "KEPOLISIAN RI", "PERDAGANGAN",
    "PETANI/PEKEBUN", "PETERNAK", "NELAYAN/PERIKANAN", "INDUSTRI", "KONSTRUKSI",
    "TRANSPORTASI", "KARYAWAN SWASTA", "KARYAWAN BUMN", "KARYAWAN BUMD", "KARYAWAN HONORER",
    "BURUH HARIAN LEPAS", "BURUH TANI/PERKEBUNAN", "BURUH NELAYAN/PERIKANAN",
    "BURUH PETERNAKAN", "PEMBANTU RUMAH TANGGA", "TUKANG CUKUR", "TUKANG LISTRIK",
    "TUKANG BATU", "TUKANG KAYU", "TUKANG SOL SEPATU", "TUKANG LAS/PANDAI BESI",
    "TUKANG JAHIT", "TUKANG GIGI", "PENATA RIAS", "PENATA BUSANA", "PENATA RAMBUT",
    "MEKANIK", "SENIMAN", "TABIB", "PARAJI", "PERANCANG BUSANA", "PENTERJEMAH",
    "IMAM MASJID", "PENDETA", "PASTOR", "WARTAWAN", "USTADZ/MUBALIGH", "JURU MASAK",
    "PROMOTOR ACARA", "ANGGOTA DPR-RI", "ANGGOTA DPD", "ANGGOTA BPK", "PRESIDEN",
    "WAKIL PRESIDEN", "ANGGOTA MAHKAMAH KONSTITUSI", "ANGGOTA KABINET/KEMENTERIAN",
    "DUTA BESAR", "GUBERNUR", "WAKIL GUBERNUR", "BUPATI", "WAKIL BUPATI", "WALIKOTA",
    "WAKIL WALIKOTA", "ANGGOTA DPRD PROVINSI", "ANGGOTA DPRD KABUPATEN/KOTA", "DOSEN",
    "GURU", "PILOT", "PENGACARA", "NOTARIS", "ARSITEK", "AKUNTAN", "KONSULTAN", "DOKTER",
    "BIDAN", "PERAWAT", "APOTEKER", "PSIKIATER/PSIKOLOG", "PENYIAR TELEVISI",
    "PENYIAR RADIO", "PELAUT", "PENELITI", "SOPIR", "PIALANG", "PARANORMAL", "PEDAGANG",
    "PERANGKAT DESA", "KEPALA DESA", "BIARAWATI", "WIRASWASTA", "LAINNYA",
)
CITIZENSHIP: Final = ("WNI", "WNA")

# Short forms integrators send for coded claims; mapped before the code-table lookup.
CLAIM_ALIASES: Final = {
    "JENIS_KLMIN": {"L": "LAKI-LAKI", "P": "PEREMPUAN", "LAKI LAKI": "LAKI-LAKI",
                    "LAKI": "LAKI-LAKI", "WANITA": "PEREMPUAN", "PRIA": "LAKI-LAKI"},
    "AGAMA": {"KATOLIK": "KATHOLIK", "BUDDHA": "BUDHA", "KHONGHUCU": "KONGHUCU",
              "KRISTEN PROTESTAN": "KRISTEN"},
    "GOL_DARAH": {"-": "TIDAK TAHU", "TIDAK DIKETAHUI": "TIDAK TAHU"},
}


KIND: Final[dict[Field, Kind]] = {
    Field.NIK: Kind.NIK,
    Field.NO_KK: Kind.NUMBER16,
    Field.NAMA_LGKP: Kind.TEXT,
    Field.TMPT_LHR: Kind.TEXT,
    Field.TGL_LHR: Kind.DATE,
    Field.JENIS_KLMIN: Kind.CODE,
    Field.GOL_DARAH: Kind.CODE,
    Field.AGAMA: Kind.CODE,
    Field.STATUS_KAWIN: Kind.CODE,
    Field.STAT_HBKEL: Kind.CODE,
    Field.PDDK_AKH: Kind.CODE,
    Field.JENIS_PKRJN: Kind.CODE,
    Field.NAMA_LGKP_IBU: Kind.TEXT,
    Field.NAMA_LGKP_AYAH: Kind.TEXT,
    Field.ALAMAT: Kind.TEXT,
    Field.NO_RT: Kind.SMALLINT,
    Field.NO_RW: Kind.SMALLINT,
    Field.NO_PROP: Kind.REGION,
    Field.NO_KAB: Kind.REGION,
    Field.NO_KEC: Kind.REGION,
    Field.NO_KEL: Kind.REGION,
    Field.KEWARGANEGARAAN: Kind.CODE,
    Field.STATUS_HIDUP: Kind.CODE,
    Field.TGL_MATI: Kind.DATE,
    Field.STATUS_KTP: Kind.CODE,
    Field.PROP_NAME: Kind.REGION_NAME,
    Field.KAB_NAME: Kind.REGION_NAME,
    Field.KEC_NAME: Kind.REGION_NAME,
    Field.KEL_NAME: Kind.REGION_NAME,
}

CODE_TABLE: Final[dict[Field, tuple[str, ...]]] = {
    Field.JENIS_KLMIN: SEX,
    Field.GOL_DARAH: BLOOD_TYPE,
    Field.AGAMA: RELIGION,
    Field.STATUS_KAWIN: MARITAL_STATUS,
    Field.STAT_HBKEL: FAMILY_RELATION,
    Field.PDDK_AKH: EDUCATION,
    Field.JENIS_PKRJN: OCCUPATION,
    Field.KEWARGANEGARAAN: CITIZENSHIP,
    Field.STATUS_HIDUP: LIFE_STATUS,
    Field.STATUS_KTP: CARD_STATUS,
}

TEXT_KIND: Final[dict[Field, TextKind]] = {
    Field.NAMA_LGKP: TextKind.PERSON,
    Field.NAMA_LGKP_IBU: TextKind.PERSON,
    Field.NAMA_LGKP_AYAH: TextKind.PERSON,
    Field.TMPT_LHR: TextKind.PLACE,
    Field.ALAMAT: TextKind.ADDRESS,
}

# Thresholds integrators use (DOMAIN.md): 100 for name, birth place and date, sex; ~95 for
# the address. Exact fields always report 100.
DEFAULT_THRESHOLD: Final[dict[Field, int]] = {
    Field.NAMA_LGKP: 100,
    Field.NAMA_LGKP_IBU: 100,
    Field.NAMA_LGKP_AYAH: 100,
    Field.TMPT_LHR: 100,
    Field.ALAMAT: 95,
}

# Fields a verification may claim: everything stored except the key, the person's status
# (reported on every answer) and the derived region names.
VERIFIABLE: Final = tuple(
    f for f in Field
    if KIND[f] not in (Kind.NIK, Kind.REGION_NAME)
    and f not in (Field.STATUS_HIDUP, Field.STATUS_KTP, Field.TGL_MATI)
)
LOOKUP_FIELDS: Final = tuple(Field)

# Warehouse export columns (docs/data-format.md). Region names may be present in an export
# but are derived from the codes, so they are accepted and not required.
REQUIRED_COLUMNS: Final = tuple(
    f.name for f in Field if KIND[f] is not Kind.REGION_NAME
)
OPTIONAL_COLUMNS: Final = tuple(f.name for f in Field if KIND[f] is Kind.REGION_NAME)
# Values that may be empty in an export; every other required column must hold a value.
MAY_BE_EMPTY: Final = frozenset({"NAMA_LGKP_AYAH", "TGL_MATI", "PDDK_AKH", "JENIS_PKRJN"})
DELTA_CHANGE_COLUMN: Final = "PERUBAHAN"
DELTA_CHANGES: Final = ("BARU", "UBAH", "HAPUS")  # new record, full update, removal

assert len(REQUIRED_COLUMNS) == N_COLUMNS and all(
    f.value < N_COLUMNS for f in Field if KIND[f] is not Kind.REGION_NAME
), "the export columns must be the first fields (encode.pxi reads column i as Field i)"

