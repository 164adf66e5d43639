"""Street addresses (ALAMAT) and RT/RW numbers in the styles of different regions."""

from __future__ import annotations

import random

from .pick import Weighted, uniform


def _w(text: str) -> tuple[str, ...]:
    return tuple(" ".join(s.split()) for s in text.split(",") if s.strip())


STREETS = _w("""MERDEKA, SUDIRMAN, JEND. SUDIRMAN, DIPONEGORO, GATOT SUBROTO, AHMAD YANI,
    A. YANI, PAHLAWAN, KARTINI, R.A. KARTINI, IMAM BONJOL, PEMUDA, VETERAN, SILIWANGI,
    GAJAH MADA, HAYAM WURUK, PATIMURA, PATTIMURA, TEUKU UMAR, CUT NYAK DIEN, SISINGAMANGARAJA,
    HASANUDDIN, SULTAN AGUNG, PANGERAN ANTASARI, SUPRAPTO, MT. HARYONO, DI. PANJAITAN,
    KH. HASYIM ASYARI, KH. AHMAD DAHLAN, MELATI, MAWAR, ANGGREK, KENANGA, CEMPAKA, FLAMBOYAN,
    BOUGENVILLE, DAHLIA, KAMBOJA, NUSANTARA, PROKLAMASI, KEMERDEKAAN, PEMBANGUNAN,
    PENDIDIKAN, PERINTIS KEMERDEKAAN, KENARI, BERINGIN, CENDRAWASIH, RAJAWALI, KUTILANG,
    MANGGA, RAMBUTAN, DURIAN, SAWO, NANGKA, KELAPA GADING, SETIABUDI, SUKARAJA, SUDIMARA,
    LINTAS, POROS, RAYA, BHAYANGKARA, KESEHATAN, PERINTIS, SWADAYA, GOTONG ROYONG""")
FLOWERS = _w("""MAWAR, MELATI, ANGGREK, KENANGA, CEMPAKA, DAHLIA, KAMBOJA, TERATAI, SEROJA,
    SAKURA, FLAMBOYAN, ASOKA, KANTIL, WIJAYA KUSUMA, NUSA INDAH, BUGENVIL, KEMUNING,
    SEDAP MALAM, LILY, TANJUNG, NANGKA, JAMBU, SALAK, MANGGIS, DUKU, PALEM, CENDANA""")
ROMAN = ("", "", "", " I", " II", " III", " IV", " V", " VI", " VII", " VIII", " IX", " X")
DUSUN = _w("""KRAJAN, KRAJAN I, KRAJAN II, SUKAMAJU, SUKAMULYA, MEKARSARI, MARGAHAYU,
    SIDOMULYO, SUMBERREJO, KARANGANYAR, TEGALSARI, WONOREJO, NGASEM, PANDANSARI, SIDOREJO,
    KARANGREJO, SUKOREJO, SUMBERSARI, TANJUNGSARI, MULYOREJO, BANJARSARI, KEBONAGUNG,
    GUNUNGSARI, PURWOREJO, MOJOSARI, SRIMULYO, TAMANSARI, JATIREJO, CANDIREJO,
    SIDODADI, MAKMUR, SEJAHTERA, BARU, TENGAH, HILIR, HULU, PASAR, TANJUNG, SIMPANG TIGA""")
KAMPUNG = _w("""CIBADAK, CIKARANG, CIPAYUNG, CIGADUNG, CIMANGGU, CISALAK, CIBEUREUM, CIHERANG,
    CIKONENG, CILEUNGSI, CIPARAY, CIJERUK, CIGOMBONG, CISARUA, CIMAHI HILIR, SUKARESMI,
    BABAKAN, BABAKAN SARI, PASIRJAMBU, PASIR KALIKI, SINDANGSARI, NAGRAK, LEUWILIANG,
    SUKAHURIP, CIKUPA, TANJAKAN, GUNUNG PUTRI, CIBODAS, CILANDAK, CIBUBUR, KAUM""")
PERUM = _w("""GRIYA ASRI, GRIYA INDAH, BUMI SERPONG, TAMAN SARI, PONDOK INDAH PERMAI,
    GRAHA PERMATA, PERMATA HIJAU, CITRA RAYA, BUKIT HIJAU, TAMAN PALEM, VILLA MUTIARA,
    GRIYA PERMAI, PESONA ALAM, KOTA BARU, BUMI ANTAPANI, SANGGAR INDAH, PURI ASRI,
    TAMAN KENARI, GRIYA PRATAMA, BUMI ASRI, PERMATA BIRU, GRAHA RAYA, NUSA INDAH""")
BANJAR = _w("""BANJAR TENGAH, BANJAR KAJA, BANJAR KELOD, BANJAR KANGIN, BANJAR KAUH,
    BANJAR DINAS ANYAR, BANJAR PASEKAN, BANJAR DANGIN PEKEN, BANJAR SEMA, BANJAR BATUR""")
JORONG = _w("""JORONG KOTO TUO, JORONG PASAR, JORONG BARU, JORONG TANJUNG, JORONG PADANG
    LUAR, JORONG BALAI GADANG, JORONG LUBUK, JORONG KAMPUNG DALAM, JORONG SUNGAI ANGEK""")
KOMPLEK = _w("""KOMP. GRIYA MAS, KOMP. PERMATA, KOMP. DEPKES, KOMP. PEMDA, KOMP. PERTAMINA,
    KOMP. TNI AL, KOMP. BUMI ASRI, ASRAMA POLRI, KOMPLEK MARGA ASRI""")

_URBAN = Weighted([("jl", 42), ("jlgg", 14), ("gg", 16), ("perum", 14), ("komp", 6),
                   ("lingk", 4), ("dusun", 2), ("kp", 2)])
_RURAL = Weighted([("dusun", 40), ("jl", 20), ("kp", 8), ("gg", 6), ("perum", 4),
                   ("lingk", 6), ("desa", 12), ("jlgg", 4)])


def address(rng: random.Random, province: int, is_city: bool, village_name: str) -> str:
    """One ALAMAT value, e.g. "JL. MERDEKA NO. 12", "DUSUN KRAJAN", "KP. CIBADAK"."""
    rnd = rng.random
    kind = (_URBAN if is_city else _RURAL).pick(rnd)
    if kind == "kp" and province not in (32, 36, 31):
        kind = "dusun"
    if kind == "dusun" and province == 51:
        return uniform(BANJAR, rnd)
    if kind == "dusun" and province == 13:
        return uniform(JORONG, rnd)
    if kind == "jl":
        street = uniform(STREETS, rnd)
        if street in ("RAYA", "POROS", "LINTAS"):
            street += " " + village_name
        n = 1 + int(rnd() * (200 if is_city else 80))
        style = rnd()
        if style < 0.75:
            return f"JL. {street} NO. {n}"
        if style < 0.85:
            return f"JLN. {street} NO.{n}"
        if style < 0.93:
            return f"JL. {street} NO. {n}{'ABCD'[int(rnd() * 4)]}"
        return f"JL. {street}"
    if kind == "jlgg":
        n = 1 + int(rnd() * 60)
        gang = uniform(FLOWERS, rnd) + uniform(ROMAN, rnd)
        return f"JL. {uniform(STREETS, rnd)} GG. {gang} NO. {n}"
    if kind == "gg":
        g = f"GG. {uniform(FLOWERS, rnd)}{uniform(ROMAN, rnd)}"
        return g if rnd() < 0.5 else f"{g} NO. {1 + int(rnd() * 40)}"
    if kind == "perum":
        blok = "ABCDEFGHJK"[int(rnd() * 10)] + str(1 + int(rnd() * 12))
        return f"PERUM {uniform(PERUM, rnd)} BLOK {blok} NO. {1 + int(rnd() * 30)}"
    if kind == "komp":
        return f"{uniform(KOMPLEK, rnd)} BLOK {'ABCDEF'[int(rnd() * 6)]} NO. {1 + int(rnd() * 25)}"
    if kind == "lingk":
        return f"LINGKUNGAN {uniform(DUSUN, rnd)}"
    if kind == "kp":
        return f"KP. {uniform(KAMPUNG, rnd)}"
    if kind == "desa":
        return f"DESA {village_name}" if rnd() < 0.5 else f"DSN. {uniform(DUSUN, rnd)}"
    return f"DUSUN {uniform(DUSUN, rnd)}"


# RT_STR[n] == "%03d" % n, built once.
RT_STR = tuple(f"{n:03d}" for n in range(1000))


def rt_rw(rng: random.Random, is_city: bool) -> tuple[str, str]:
    """(NO_RT, NO_RW) as zero-padded 3-digit strings."""
    rnd = rng.random
    rt = 1 + int(rnd() * (rnd() * 18 + 3))
    rw = 1 + int(rnd() * (rnd() * (16 if is_city else 10) + 2))
    return RT_STR[rt], RT_STR[rw]
