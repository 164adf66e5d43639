"""Build a labelled evaluation set of Indonesian name pairs.

    python -m bench.namepairs.build --out bench/namepairs/pairs.csv --seed 7

Columns: stored,claimed,same,category
  stored    the name as the population registry holds it (NAMA_LGKP: uppercase, may carry
            titles before the name such as H., HJ., DR., IR., DRS. and degrees after a comma
            such as ", S.KOM" or ", S.H., M.M.")
  claimed   what a clerk at a user institution typed
  same      1 = the claimed name is a legitimate way of writing the stored person's name,
            0 = it names a different person
  category  the transformation that produced the pair (one label per category)

All names are synthetic: common given names and family names combined at random. A guard
rejects combinations that spell well-known public figures.

LABELLING POLICY
The question a label answers is: "should a verification answer 'Sesuai' (match) for this
claim against this record?" A match confirms identity, so a false match is the costly
error; but integrators demand threshold 100 for names, so variants that clerks and
registries routinely produce for the *same* person must reach 100 or the service is
useless. Hence:

  same=1 (variants of one person's name)
    exact, case_punct    case, extra spaces, dots, commas, apostrophes carry no identity.
    title_degree         H./HJ./DR./IR./DRS./PROF. and degrees (S.KOM, S.H., M.M., ...)
                         are earned or dropped over a lifetime; they never distinguish
                         two people.
    muhammad, abd, siti  MUHAMMAD/MUHAMAD/MOH./M./MHD..., ABDUL/ABD., SITI/SITTI are
                         spellings or standard abbreviations of one name. "M." as the
                         first token is read as MUHAMMAD (by far the commonest case).
    spacing              NUR HALIZA/NURHALIZA: compounds written joined or split.
    order                SIMANJUNTAK ROBERT/ROBERT SIMANJUNTAK: forms with a surname
                         field put the family name first; same tokens, same person.
    old_spelling         pre-1972 (Van Ophuijsen / Soewandi) spellings OE/U, DJ/J, TJ/C,
                         J/Y, CH/KH/H, SJ/SY, NJ/NY. Older records and ID cards keep them.
    doubled, trailing_yi ABDULLAH/ABDULAH, HENDRY/HENDRI: free spelling choices.
    initial              BUDI S. vs BUDI SANTOSO. Labelled SAME because the initial is
                         consistent evidence in the right position: it is how bank
                         systems with short name fields and older cards write middle
                         names, and a scorer that gives it full credit still cannot be
                         fooled by a *different* full token (that is diff_family). It is
                         kept in its own category so its contribution can be read apart.
    typo                 one letter substituted, deleted or transposed inside a long token
                         (>= 8 letters; never the first letter nor the last three, where
                         Javanese gender/name endings live): SUSILOWATI/SUSILAWATI.
    combined             two or more of the above at once.

  same=0 (a different person)
    different            unrelated names.
    diff_family          same given name, different family/last name.
    diff_given           same family/last name, different given name (fathers, brothers).
    extra_token          AHMAD FAUZI vs AHMAD FAUZI RAHMAN. Labelled DIFFERENT because a
                         whole token is new information that the record does not contain
                         (or record information the claim lacks); in Indonesia an added
                         token is exactly how a son or namesake differs (father AHMAD
                         FAUZI, son AHMAD FAUZI RAHMAN). Contrast "initial", where the
                         token is present and agrees.
    siblings             SITI AMINAH / SITI AMINATUN, EKA/DWI/TRI PRASETYA, or the same
                         first and last token with a different middle token.
    gender               male/female forms of one stem: PUTRA/PUTRI, SUPARNO/SUPARNI,
                         KURNIAWAN/KURNIAWATI, HABIB/HABIBAH, I/NI (Balinese).
    balinese             a different Balinese birth-order name: I WAYAN vs I MADE (first-
                         born vs second-born siblings). Synonyms within one birth order
                         (WAYAN/PUTU/GEDE) are NOT generated: see the report/README.
    near_name            real, distinct names one or two letters apart: RAHMAT/RAHMAN,
                         JOKO/JONO, AGUS/AGUNG.
    mononym              Javanese single names sharing a stem or suffix: SUPARMAN/SUPARMIN,
                         SUDARMAN/SUTARMAN.

Deliberately left OUT of the set because the right answer is genuinely unclear (listed in
AMBIGUOUS below): WAYAN/PUTU/GEDE synonyms, a dropped MUHAMMAD, a dropped Batak marga,
Javanese a/o spellings (SANTOSA/SANTOSO), ANDI as Bugis title vs given name, and others.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

FIELDS = ("stored", "claimed", "same", "category")

POSITIVE_CATEGORIES = (
    "exact", "case_punct", "title_degree", "muhammad", "spacing", "order", "old_spelling",
    "doubled", "trailing_yi", "initial", "typo", "abd", "siti", "combined",
)
NEGATIVE_CATEGORIES = (
    "different", "diff_family", "diff_given", "extra_token", "siblings", "gender",
    "balinese", "near_name", "mononym",
)
LABEL = {c: 1 for c in POSITIVE_CATEGORIES} | {c: 0 for c in NEGATIVE_CATEGORIES}

# Main groups: each pairs the variants a scorer must accept with the look-alikes it must
# reject at the same level of difference, so that every group holds both labels.
GROUPS = {
    "surface": ("exact", "case_punct", "title_degree", "order",
                "different", "diff_family", "diff_given"),
    "spelling": ("muhammad", "old_spelling", "doubled", "trailing_yi", "typo", "abd",
                 "siti", "combined", "gender", "balinese", "near_name", "mononym"),
    "tokens": ("spacing", "initial", "extra_token", "siblings"),
}

# Cases deliberately not in the set (no defensible single label). Documented for the
# scorer's author; `--ambiguous` prints them.
AMBIGUOUS = (
    ("I WAYAN SUDARTA", "I PUTU SUDARTA", "WAYAN/PUTU/GEDE all mean first-born; registry "
     "and person may use either, but they are also different names."),
    ("I WAYAN SUDARTA", "WAYAN SUDARTA", "the I/NI particle is often dropped by clerks."),
    ("MUHAMMAD RIZKI", "RIZKI", "MUHAMMAD is often omitted in daily use, yet it is a token."),
    ("ROBERT SIMANJUNTAK", "ROBERT", "Batak marga dropped (common outside Sumatra)."),
    ("BUDI SANTOSA", "BUDI SANTOSO", "Javanese a/o: same name in two spellings, or two names."),
    ("ANDI MUHAMMAD RIFAI", "MUHAMMAD RIFAI", "ANDI is a Bugis noble title and a given name."),
    ("H. BUDI SANTOSO", "HARI BUDI SANTOSO", "H. is hajj title or an initial."),
    ("M. RIZKI", "MAULANA RIZKI", "M. read as MUHAMMAD by policy; could be any M- name."),
    ("ST. AMINAH", "SITI AMINAH", "ST. abbreviates SITTI in South Sulawesi; rare elsewhere."),
    ("AHMAD BIN SALEH", "AHMAD", "BIN/BINTI + father's name: patronymic added or dropped."),
    ("DEVI ANGGRAINI", "DEWI ANGGRAINI", "V/W: DEVI and DEWI are distinct names to some."),
    ("ZAHRA AULIA", "ZAHRO AULIA", "Javanese rendering of Arabic -A as -O."),
    ("ABDUL ROHMAN", "ABDURRAHMAN", "assimilated vs separated and O/A: included as "
     "spacing hand case for ABDURRAHMAN/ABDUL RAHMAN only."),
    ("ASEP SUNANDAR", "ACEP SUNANDAR", "Sundanese spellings of one name, or two names."),
)

# --------------------------------------------------------------------------- vocabulary

MALE_GIVEN = """BUDI AGUS ANDI EKO DEDI HERU BAMBANG RUDI HENDRA ARIF FAJAR DIMAS BAYU
ADITYA YOGA GILANG RAHMAT ILHAM FIRMAN IRFAN WAHYU TAUFIK HARIS IMAM RIDWAN FAUZI HADI
SLAMET SUGENG TEGUH AGUNG DANI DONI RONI TONI YUDI ANTON REZA DENI ARIS ADI BAGUS GALIH
RIYAN YOGI ERWIN INDRA KRISNA LUKMAN NANANG PURNOMO RAHMAN SIGIT TRI DARMADI""".split()
FEMALE_GIVEN = """DEWI SRI RINA RINI ANI YANTI INDAH AYU PUTRI FITRI RATNA NOVI MEGA DIAN
LINA SARI MAYA TUTI YULI ERNA LILIS WULAN RATIH DESI ANGGI TIKA NIA ENDAH LESTARI NURUL
ELOK WIWIK UMI TITIN YUYUN ASIH INTAN MELATI KARTINI SUSI""".split()
FAMILY_M = """SANTOSO SETIAWAN WIBOWO PRASETYO NUGROHO SAPUTRA HIDAYAT KURNIAWAN GUNAWAN
SUSANTO HARYANTO WIJAYA PRATAMA RAMADHAN FIRMANSYAH HAKIM PURNOMO SULISTYO WAHYUDI
MULYADI SUPRIYADI SUDRAJAT HERMAWAN SETIADI KUSUMA HARTONO SUTRISNO SUGIARTO PRABOWO
SUBEKTI NURDIN PRAKOSO HANDOKO WICAKSONO SISWANTO BUDIMAN SUHENDRA ARDIANSYAH NUGRAHA
MAULANA PAMUNGKAS HUTOMO SUPRAPTO WIRANATA""".split()
FAMILY_F = """LESTARI WULANDARI RAHAYU PERMATASARI ANGGRAINI PUSPITASARI HANDAYANI SUSANTI
YULIANTI KURNIASIH FITRIANI MAHARANI RAHMAWATI SUSILOWATI PURWANINGSIH SAFITRI
NOVITASARI OKTAVIANI APRILIANI ASTUTI WIDYASTUTI NURHAYATI KARTIKASARI RATNASARI
MARLINA SULISTYOWATI SETYANINGSIH HARYATI UTAMI PRATIWI INDRIYANI DAMAYANTI""".split()
MUSLIM_M = """RIZKI FAUZI HIDAYAT RAMADHAN FIRDAUS ALI HUSAIN HASAN ARIFIN FADLI SYAHPUTRA
NURHADI HANAFI SALEH IBRAHIM ISMAIL IQBAL ALFARIZI HAMZAH ZULKARNAIN SOLIHIN ANSHORI
MAHMUD FIKRI HABIBI AMINUDIN BAIHAQI RASYID ZAKARIA SUBHAN KAMALUDIN HAIKAL""".split()
MUSLIM_F = """AISYAH FATIMAH KHADIJAH MARYAM ZUBAIDAH AMINAH NABILA SALSABILA ZAHRA AULIA
HANIFAH NURJANAH MUNAWAROH ROKAYAH SOFIA AZZAHRA NAJWA HUMAIRA SYIFA FAUZIAH""".split()
APOSTROPHE = """MA'RUF JA'FAR SYAFI'I MU'MIN NU'MAN MAS'UD NUR'AINI QUR'ANI""".split()
ABDUL_TAIL = """RAHMAN ROHMAN AZIZ HAKIM MALIK GANI KADIR HAMID MAJID LATIF WAHAB RAHIM
MANAF SALAM KARIM MUIS SOMAD HADI JALIL""".split()
SITI_TAIL = """AMINAH FATIMAH KHADIJAH NURHALIZA MARYAM ZUBAIDAH RAHMAWATI NURHAYATI AISYAH
HAJAR SUNDARI MUNAROH ROKAYAH MASITOH JUBAEDAH SALAMAH MULYANI AMALIA""".split()
BATAK_MARGA = """SIMANJUNTAK SIREGAR NASUTION HARAHAP LUBIS PANJAITAN SITOMPUL HUTAPEA SINAGA
TAMBUNAN SIMATUPANG PASARIBU SIHOMBING MANURUNG SITUMORANG GINTING SEMBIRING TARIGAN
SURBAKTI PURBA SARAGIH DAMANIK HUTAGALUNG SIAHAAN""".split()
CHRIST_M = """ROBERT JOHANNES MARTIN DANIEL YOHANES SAMUEL YOSEPH FRANSISKUS PAULUS HOTMAN
PARLINDUNGAN JONATHAN STEFANUS MARKUS ANDREAS BENNY""".split()
CHRIST_F = """MARIA ELISABETH MAGDALENA RUTH DEBORA TIURMA RUMONDANG RISMA LAMRIA YOHANA
KRISTINA MONIKA SERLY AGNES""".split()
MANADO_FAM = """WOWOR LUMENTUT RUMANGKANG SUMAMPOUW TUMBELAKA KAUNANG PANGEMANAN MANDAGI
RONDONUWU TAMBAYONG""".split()
SUNDA_M = "ASEP DADANG UJANG CECEP DEDEN ENCEP DADAN UDIN ENJANG".split()
SUNDA_F = "EUIS NENG IMAS ENOK YAYAH CUCU EMAH ELIS".split()
SUNDA_FAM = """SUNANDAR SUPRIATNA RUSTANDI SAEPUDIN KOSASIH SUHENDAR SOBARI MULYANA
SURYANA HERMANSYAH""".split()
CHINESE_M = "WILLIAM KEVIN STEVEN FELIX HENDRA VINCENT ALBERT RICHARD".split()
CHINESE_F = "JESSICA MICHELLE FELICIA VERONICA CHRISTINE LIDYA MELISA".split()
CHINESE_FAM = """TANUWIJAYA SANJAYA HALIM TANDIAWAN GUNADI LIMANTO SUGIHARTO KUSNADI
HARTANTO SETIABUDI TANZIL HALIMAN""".split()
BALI_ORDER = {  # birth order -> names
    1: ("WAYAN", "PUTU", "GEDE"),
    2: ("MADE", "KADEK", "NENGAH"),
    3: ("NYOMAN", "KOMANG"),
    4: ("KETUT",),
}
BALI_M = """SUDARTA SUARDANA ARTAWAN MERTAYASA SUWITRA ADNYANA WIRAWAN SUARJANA ASTAWA SUDIRA
DARMAYASA PARWATA SUKERTA SUTAMA WIDIANA""".split()
BALI_F = """SUDIARI ARYANI PURNAMI SUARNITI WIDIASIH ASTITI SUMERTI SUKARMI ARIASIH
MURNIASIH""".split()
# Javanese mononyms: stem + suffix. Same stem or stems one letter apart make the hard
# mononym negatives; the gendered suffix pairs are left to the "gender" category.
MONO_STEMS = """SUPAR SUKAR SUDAR SUTAR SUMAR SUWAR SUGI SURAT SUTRIS SUKIR SUYAT SUPRI
PAR KAR TAR WAR SAR NGADI TUKI PAI""".split()
MONO_SUF_M = "MAN MIN MO JO DI YANTO YONO NO TO JAN".split()
MONO_SUF_F = "MI NI TI YEM NAH SIH YATI".split()

MUHAMMAD = """MUHAMMAD MUHAMAD MOHAMMAD MOHAMAD MOCHAMMAD MOCHAMAD MUCHAMMAD MUCHAMAD
MOH. MOCH. MUH. M. MHD MHD. MOHD""".split()
MUHAMMAD_FULL = MUHAMMAD[:8]

# Equivalence groups of spellings (a token may be replaced by any other of its group).
OLD_SPELLING = [g.split("/") for g in """SOEHARTO/SUHARTO SOEKARNO/SUKARNO SOEPARMAN/SUPARMAN
SOEDARSONO/SUDARSONO SOEWARNO/SUWARNO SOETRISNO/SUTRISNO SOEBAGIO/SUBAGIO DJOKO/JOKO
DJUNAIDI/JUNAIDI DJAMAL/JAMAL DJUMADI/JUMADI SOEDJONO/SUDJONO/SUJONO
TJAHJONO/TJAHYONO/CAHYONO/CAHJONO TJIPTO/CIPTO TJOKRO/COKRO TJAHJADI/CAHYADI/TJAHYADI
ACHMAD/AHMAD ACHMADI/AHMADI CHAIRUL/KHAIRUL/HAIRUL CHOLID/KHOLID CHOIRUL/KHOIRUL
MOCHTAR/MOKHTAR/MUKHTAR/MOECHTAR ICHSAN/IKHSAN/IHSAN FACHRUL/FAKHRUL/FAHRUL
SJAMSUDIN/SYAMSUDIN SJARIF/SYARIF NJOMAN/NYOMAN JUSUF/YUSUF JAHJA/YAHYA JUNUS/YUNUS
SOEMARNO/SUMARNO POERWANTO/PURWANTO OETOMO/UTOMO BOEDI/BUDI SOESILO/SUSILO
ROESDI/RUSDI TJITRA/CITRA HARDJONO/HARJONO/HARYONO POERWANINGSIH/PURWANINGSIH
SOEMIATI/SUMIATI KOESOEMA/KUSUMA DJUWITA/JUWITA SOETOMO/SUTOMO MARDJUKI/MARJUKI/MARYUKI
CHOTIMAH/KHOTIMAH/HOTIMAH CHASANAH/KHASANAH/HASANAH NOERHAJATI/NURHAYATI""".split()]
DOUBLED = [g.split("/") for g in """ABDULLAH/ABDULAH HASSAN/HASAN HUSSEIN/HUSEIN
SYAMSUDDIN/SYAMSUDIN NASRULLAH/NASRULAH HIDAYATULLAH/HIDAYATULAH FATTAH/FATAH
ANNISA/ANISA MUTTAQIN/MUTAQIN NURJANNAH/NURJANAH FEBBY/FEBY ZAKKI/ZAKI MUNAWWAR/MUNAWAR
AMMAR/AMAR SIDDIQ/SIDIQ UMMI/UMI MUZZAMIL/MUZAMIL ALLIYAH/ALIYAH RIFFAT/RIFAT
JAMALUDDIN/JAMALUDIN NURRAHMAN/NURAHMAN FADDLY/FADLY ZULFIKKAR/ZULFIKAR
TAQQIYUDIN/TAQIYUDIN""".split()]
TRAILING_I = """HENDRI RUDI ANDI FEBRI DEDI HERI YUDI EDI TEDI DENI RONI TONI JONI ANGGI
RIZKI NOVI DEVI WINDI CINDI SANDI FERDI ANDRI SETIADI WAHYUDI MULYADI SUPRIADI FAHMI
ZULFIKRI RENDI JEFRI""".split()
TRAILING = [[t, t[:-1] + "Y"] for t in TRAILING_I]
ABD = [["ABDUL", "ABD.", "ABD"]]
SITI = [["SITI", "SITTI"]]

# Compounds that are written joined or split.
SPACING_HEADS = {
    "NUR": "HALIZA HAYATI JANAH AINI HIDAYAH AZIZAH KHOLIS HADI ALAM FADILAH LAILA".split(),
    "ABDUL": "ROHMAN RAHMAN MALIK AZIZ HAKIM GANI KADIR HAMID".split(),
    "NURUL": "HUDA HIDAYAH FITRI AINI ISLAMI".split(),
    "SYAMSUL": "BAHRI ARIFIN HADI RIZAL".split(),
    "ZAINAL": "ABIDIN ARIFIN MUTTAQIN".split(),
    "SAIFUL": "ANWAR BAHRI ANAM".split(),
    "FATHUR": "ROHMAN RAHMAN".split(),
    "KHOIRUL": "ANAM UMAM HUDA".split(),
    "SRI": "WAHYUNI REJEKI HARTATI MULYANI".split(),
}

GENDER_PAIRS = [g.split("/") for g in """KURNIAWAN/KURNIAWATI SETIAWAN/SETIAWATI
HERMAWAN/HERMAWATI DARMAWAN/DARMAWATI IRAWAN/IRAWATI SUSANTO/SUSANTI HARYANTO/HARYANTI
SUGIYANTO/SUGIYANTI SUPRIYANTO/SUPRIYANTI YULIANTO/YULIANTI WIDYANTO/WIDYANTI
PRIYANTO/PRIYANTI SUPRAPTO/SUPRAPTI ARIYANTO/ARIYANTI SUPARNO/SUPARNI SUWARNO/SUWARNI
SUMARNO/SUMARNI SUYATNO/SUYATNI PUTRA/PUTRI SAPUTRA/SAPUTRI PRATAMA/PRATAMI
WIJAYA/WIJAYANTI HABIB/HABIBAH LATIF/LATIFAH NAJIB/NAJIBAH ROHIM/ROHIMAH HALIM/HALIMAH
AZIZ/AZIZAH JAMIL/JAMILAH MUNIR/MUNIRAH ZAKI/ZAKIYAH ARIF/ARIFAH RAHMAN/RAHMAH
DEWA/DEWI ANDIKA/ANDIKA? SANTOSO/SANTOSI? RAMADHAN/RAMADHANI SYAHPUTRA/SYAHPUTRI
WIBOWO/WIBAWATI? HASAN/HASANAH""".split() if "?" not in g]

NEAR_NAMES = [g.split("/") for g in """RAHMAT/RAHMAN JOKO/JONO AGUS/AGUNG DEDI/DODI
HERU/HERI DENI/DONI YUDI/YUDA ANDI/ANDRI RINA/RINI DINA/DINI TONI/TINO HASAN/HUSIN
FAJAR/FAJRI IRFAN/IRWAN FAUZI/FAUZAN YUSUF/YUNUS INDRA/INDAH HENDRA/HENDRI LINA/LINDA
RIZAL/RIZKI HADI/HARDI RUDI/RUSDI SANTI/SINTA SUSI/SUCI MAMAN/MAMAT WAWAN/IWAN
ILHAM/IHSAN ARIS/ARIF BAYU/BAGUS DIAN/DIANA DEWI/DEWA? NOVI/NOVA SANTOSO/SUSANTO
HARTONO/HARTANTO SUTRISNO/SUTARNO WIBOWO/WIBISONO SETIADI/SETIAWAN PURNOMO/PURWANTO
GUNAWAN/GUNADI MULYADI/MULYONO SUPRIADI/SUPRIYANTO HIDAYAT/HIDAYATI? RATNA/RATNI
TUTI/TITI YANI/YENI ERNA/ERNI WATI/WATIK? SLAMET/SLAMAT? HAMID/HAMDI FIKRI/FIKRIH?
AMIN/AMAN IMAM/IMAN SALEH/SALIH? RAFI/RAFLI ZAKI/ZAKIR FARID/FARIZ HAFID/HAMID
ALI/ALIF ARDI/ARDA? TEGUH/TEGAR SIGIT/SIGID? LUKMAN/LUKMANA? BUDI/BUDIMAN
ADI/ADIT MEGA/MEGI? YOGA/YOGI LESTARI/LESTARINI? WULAN/WULANDARI""".split()
              if "?" not in g]

SIBLING_SETS = [g.split("/") for g in """AMINAH/AMINATUN/AMINI WAHYUNI/WAHYUNINGSIH/WAHYUNINGRUM
FITRIANI/FITRIYAH/FITRIANA KURNIASIH/KURNIATI RAHMAWATI/RAHMANINGSIH/RAHMADANI
PUSPITASARI/PUSPITANINGRUM INDRIYANI/INDRIASTUTI SETYANINGSIH/SETYOWATI HIDAYAH/HIDAYATI
MULYANI/MULYATI/MULYANINGSIH ARIFIN/ARIFUDDIN HIDAYAT/HIDAYATULLAH AINI/AINUN
ROHMAH/ROHMATUN/ROHMANIAH NURHAYATI/NURHASANAH/NURHIDAYAH PURWANTO/PURWADI/PURWOKO
SUSILOWATI/SUSILANINGSIH LESTARI/LESTARININGSIH HARYATI/HARYANINGSIH
SRIYANTI/SRIWAHYUNI? KARTIKA/KARTIKASARI MAHARANI/MAHARANIA? ANGGRAINI/ANGGRAENI?
WIDODO/WIDARTO/WIDAYAT SUHARTO/SUHARTONO/SUHARDI BAMBANG/BAMBANG? ADITYA/ADITAMA""".split()
                if "?" not in g and len(set(g.split("/"))) > 1]
ORDINALS = "EKA DWI TRI CATUR PANCA".split()
ORDINAL_TAILS = """PRASETYA PRASETYO WAHYUDI SAPUTRA LESTARI RAHAYU KURNIAWAN NUGROHO ASTUTI
HANDAYANI SETIAWAN PURNAMA YULIANTI WIBOWO""".split()

PREFIX_M = ("H.", "DR.", "IR.", "DRS.", "DRS. H.", "DR. H.", "IR. H.", "PROF. DR.",
            "DR. IR.", "PROF. DR. IR. H.")
PREFIX_F = ("HJ.", "DR.", "IR.", "DRA.", "DRA. HJ.", "DR. HJ.", "PROF. DR.")
PREFIX_NONMUSLIM = ("DR.", "IR.", "DRS.", "PROF. DR.", "DR. IR.")
DEGREES = ("S.KOM", "S.H.", "S.E.", "S.PD", "S.T.", "S.SOS", "S.AG", "S.KED", "S.IP",
           "S.KEP", "S.FARM", "A.MD", "AMD.KEB", "S.PD.I", "M.M.", "M.SI", "M.KES")
DEGREE_SETS = (("S.H.", "M.M."), ("S.E.", "M.M."), ("S.T.", "M.T."), ("S.PD", "M.PD"),
               ("S.KOM", "M.KOM"), ("S.H.", "M.H."), ("S.KED", "SP.A"), ("S.AG", "M.AG"),
               ("S.SOS", "M.SI"))

FAMOUS = [frozenset(n.split()) for n in """JOKO WIDODO|SUSILO BAMBANG YUDHOYONO
|PRABOWO SUBIANTO|MEGAWATI SOEKARNOPUTRI|MA'RUF AMIN|JUSUF KALLA|SRI MULYANI|ANIES BASWEDAN
|GANJAR PRANOWO|BUDI GUNADI SADIKIN|ERICK THOHIR|RIDWAN KAMIL|TITO KARNAVIAN
|LUHUT BINSAR PANDJAITAN|RETNO MARSUDI|SUSI PUDJIASTUTI|BASUKI TJAHAJA PURNAMA
|NADIEM MAKARIM|AGUS HARIMURTI YUDHOYONO|PUAN MAHARANI|TRI RISMAHARINI|AGUS SALIM
|ABDURRAHMAN WAHID|BUDI GUNAWAN|JUSUF HABIBIE|SOEHARTO|SUHARTO|SOEKARNO|SUKARNO"""
          .replace("\n", "").split("|")]

# Words in generated names (used to keep generated typos from landing on real names).
def _vocabulary() -> frozenset[str]:
    words: set[str] = set()
    for lst in (MALE_GIVEN, FEMALE_GIVEN, FAMILY_M, FAMILY_F, MUSLIM_M, MUSLIM_F,
                ABDUL_TAIL, SITI_TAIL, BATAK_MARGA, CHRIST_M, CHRIST_F, MANADO_FAM, SUNDA_M,
                SUNDA_F, SUNDA_FAM, CHINESE_M, CHINESE_F, CHINESE_FAM, BALI_M, BALI_F,
                ORDINALS, ORDINAL_TAILS, TRAILING_I):
        words.update(lst)
    for groups in (OLD_SPELLING, DOUBLED, TRAILING, GENDER_PAIRS, NEAR_NAMES, SIBLING_SETS):
        for g in groups:
            words.update(g)
    for head, tails in SPACING_HEADS.items():
        words.update(head + t for t in tails)
    words.update(s + f for s in MONO_STEMS for f in MONO_SUF_M + MONO_SUF_F)
    return frozenset(words)


VOCAB = _vocabulary()

FEMALE_TOKENS = frozenset(
    FEMALE_GIVEN + FAMILY_F + MUSLIM_F + SITI_TAIL + CHRIST_F + SUNDA_F + CHINESE_F + BALI_F
    + [f for _m, f in GENDER_PAIRS]
    + """ANNISA ANISA NURJANNAH NURJANAH UMMI UMI ALLIYAH ALIYAH FEBBY FEBY RINA RINI DINA
    DINI SANTI SINTA SUSI SUCI LINA LINDA INDAH RATNA RATNI TUTI TITI YANI YENI ERNA ERNI
    DIAN DIANA NOVI NOVY NOVA DEVI DEVY CINDI CINDY WINDI WINDY ANGGI ANGGY CHOTIMAH KHOTIMAH
    HOTIMAH CHASANAH KHASANAH HASANAH NOERHAJATI SOEMIATI SUMIATI DJUWITA JUWITA TJITRA
    CITRA WULAN MEGA AINI AINUN AMINI KARTIKA MAHARANI LESTARI""".split())


def _sex_of(tok: str) -> str:
    if tok in FEMALE_TOKENS or tok.endswith(("WATI", "NINGSIH", "NINGRUM", "ASTUTI",
                                             "YANTI", "IYAH", "ATUN", "SARI", "ANI")):
        return "F"
    return "M"

# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Name:
    tokens: tuple[str, ...]
    sex: str  # "M" / "F"
    kind: str
    prefix: tuple[str, ...] = ()
    suffix: tuple[str, ...] = ()

    def render(self) -> str:
        s = " ".join(self.prefix + self.tokens)
        if self.suffix:
            s += ", " + ", ".join(self.suffix)
        return s


def _norm(text: str) -> str:
    """Uppercase, punctuation to space, whitespace collapsed (used only for sanity checks)."""
    return " ".join(re.sub(r"[^A-Z0-9 ]", " ", text.upper().replace("'", "")).split())


_GROUP_OF: dict[str, int] = {}
for _i, _g in enumerate(OLD_SPELLING + DOUBLED + TRAILING + ABD + SITI + [MUHAMMAD]):
    for _t in _g:
        _GROUP_OF.setdefault(_t.rstrip("."), _i)


def _loose(tok: str) -> str:
    """A crude spelling-insensitive key: equal keys = possibly the same name."""
    t = tok.upper().replace(".", "").replace("'", "")
    if t in _GROUP_OF:
        return f"#{_GROUP_OF[t]}"
    for a, b in (("OE", "U"), ("DJ", "J"), ("TJ", "C"), ("SJ", "SY"), ("NJ", "NY"),
                 ("CH", "KH"), ("KH", "H"), ("DH", "D"), ("TH", "T")):
        t = t.replace(a, b)
    t = re.sub(r"(.)\1+", r"\1", t)
    return t.replace("Y", "I")


def _lev(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _famous(tokens: Iterable[str]) -> bool:
    ts = {t.rstrip(".") for t in tokens}
    # multi-word figures: contained anywhere; one-word figures: only as the whole name
    return any((f <= ts) if len(f) > 1 else (f == ts) for f in FAMOUS)


# --------------------------------------------------------------------------- people

KINDS = ("jv", "jv", "jv", "muslim", "muslim", "mono", "batak", "sunda", "chinese",
         "manado", "bali")


def person(rng: random.Random, kind: str | None = None, sex: str | None = None,
           min_tokens: int = 1) -> Name:
    for _ in range(100):
        k = kind or rng.choice(KINDS)
        s = sex or rng.choice("MF")
        toks = _tokens_for(rng, k, s)
        if len(toks) >= min_tokens and len(set(toks)) == len(toks) and not _famous(toks):
            return Name(tuple(toks), s, k)
    raise RuntimeError(f"cannot make a {kind} name with {min_tokens} tokens")


def _tokens_for(rng: random.Random, k: str, s: str) -> list[str]:
    c = rng.choice
    m = s == "M"
    if k == "jv":
        given = c(MALE_GIVEN if m else FEMALE_GIVEN)
        fam = FAMILY_M if m else FAMILY_F
        n = rng.choices((1, 2), (3, 1))[0]
        return [given] + rng.sample(fam, n) if n == 1 else \
            [given, c(MALE_GIVEN if m else FEMALE_GIVEN), c(fam)]
    if k == "muslim":
        if m:
            head = rng.choices(
                [[c(MUHAMMAD_FULL)], ["AHMAD"], ["ABDUL", c(ABDUL_TAIL)], [c(MUSLIM_M)],
                 [c(APOSTROPHE[:6])]], (5, 2, 2, 3, 1))[0]
            tail = rng.sample(MUSLIM_M + FAMILY_M, rng.choice((1, 1, 2)))
        else:
            head = rng.choices([["SITI"], ["NUR"], [c(MUSLIM_F)], ["NUR'AINI"]],
                               (4, 1, 3, 1))[0]
            tail = rng.sample(MUSLIM_F + FAMILY_F + SITI_TAIL, rng.choice((1, 1, 2)))
        return head + tail
    if k == "mono":
        return [c(MONO_STEMS) + c(MONO_SUF_M if m else MONO_SUF_F)]
    if k == "batak":
        given = [c(CHRIST_M if m else CHRIST_F)]
        if rng.random() < 0.3:
            given.append(c(CHRIST_M if m else CHRIST_F))
        return given + [c(BATAK_MARGA)]
    if k == "manado":
        return [c(CHRIST_M if m else CHRIST_F), c(MANADO_FAM)]
    if k == "sunda":
        return [c(SUNDA_M if m else SUNDA_F), c(SUNDA_FAM if m else FAMILY_F)]
    if k == "chinese":
        return [c(CHINESE_M if m else CHINESE_F), c(CHINESE_FAM)]
    if k == "bali":
        order = c(c(list(BALI_ORDER.values())))
        toks = ["I" if m else "NI"]
        if not m and rng.random() < 0.4:
            toks.append("LUH")
        toks += [order, c(BALI_M if m else BALI_F)]
        return toks
    raise ValueError(k)


def with_titles(rng: random.Random, name: Name, p: float = 0.12,
                force: bool = False) -> Name:
    if not force and rng.random() >= p:
        return name
    muslimish = name.kind in ("jv", "muslim", "sunda", "mono")
    pre: tuple[str, ...] = ()
    suf: tuple[str, ...] = ()
    what = rng.choice(("pre", "suf", "both", "suf"))
    if what in ("pre", "both"):
        pool = (PREFIX_M if name.sex == "M" else PREFIX_F) if muslimish else PREFIX_NONMUSLIM
        if name.sex == "F":
            pool = tuple(x for x in pool if "DRS" not in x)
        pre = tuple(rng.choice(pool).split())
    if what in ("suf", "both"):
        suf = rng.choice(DEGREE_SETS) if rng.random() < 0.3 else (rng.choice(DEGREES),)
    return replace(name, prefix=pre, suffix=suf)


# --------------------------------------------------------------------------- surface noise

def _title_case(s: str) -> str:
    return re.sub(r"[A-Z]+", lambda m: m.group(0).capitalize(), s)


def case_change(rng: random.Random, s: str) -> str:
    f = rng.choice((_title_case, _title_case, str.lower,
                    lambda x: " ".join(w if rng.random() < .5 else _title_case(w)
                                       for w in x.split(" "))))
    return f(s)


def punct_change(rng: random.Random, s: str) -> str:
    ops = [
        lambda x: x.replace(".", ""),
        lambda x: x.replace(",", ""),
        lambda x: x.replace(" ", "  ", rng.randint(1, 2)),
        lambda x: "  " + x + " ",
        lambda x: x + rng.choice((".", ",", " .")),
        lambda x: x.replace("'", rng.choice(("", "`", "\u2019", " "))),
        lambda x: x.replace(". ", ".", 1),
        lambda x: x.replace(", ", " , "),
        lambda x: re.sub(r"(\w) (\w)", r"\1. \2", x, count=1) if " " in x else x + ".",
    ]
    out = s
    for op in rng.sample(ops, rng.randint(1, 3)):
        out = op(out)
    return out


# --------------------------------------------------------------------------- token swaps

def _swap_in_groups(rng: random.Random, tokens: tuple[str, ...],
                    groups: list[list[str]], first_only: bool = False):
    idx = [i for i, t in enumerate(tokens) if any(t in g for g in groups)]
    if first_only:
        idx = idx[:1] if idx == [0] else []
    if not idx:
        return None
    i = rng.choice(idx)
    g = next(g for g in groups if tokens[i] in g)
    alt = rng.choice([x for x in g if x != tokens[i]])
    return tokens[:i] + (alt,) + tokens[i + 1:]


def _place(rng: random.Random, tok: str, sex: str | None = None,
           allow_mono: bool = True) -> Name:
    """A name that contains `tok` in a plausible position."""
    s = sex or _sex_of(tok)
    fam = FAMILY_M if s == "M" else FAMILY_F
    given = MALE_GIVEN if s == "M" else FEMALE_GIVEN
    r = rng.random()
    if allow_mono and r < 0.15:
        toks: tuple[str, ...] = (tok,)
    elif r < 0.6:
        toks = (tok, rng.choice(fam)) if rng.random() < .8 else \
            (tok, rng.choice(given), rng.choice(fam))
    else:
        toks = (rng.choice(given), tok) if rng.random() < .8 else \
            (rng.choice(given), rng.choice(given), tok)
    return Name(toks, s, "jv")


# --------------------------------------------------------------------------- positives
# Each generator returns (stored_name, claimed_text) or None (try again).

def pos_exact(rng):
    n = with_titles(rng, person(rng), p=0.2)
    return n, n.render()


def pos_case_punct(rng):
    n = person(rng)
    if rng.random() < .3:
        n = replace(n, tokens=n.tokens[:-1] + (rng.choice(APOSTROPHE),))
    n = with_titles(rng, n, p=0.3)
    s = n.render()
    r = rng.random()
    claimed = case_change(rng, s) if r < .4 else punct_change(rng, s) if r < .7 else \
        punct_change(rng, case_change(rng, s))
    return n, claimed


def _degree_variant(rng, d: str) -> str:
    return rng.choice((d.replace(".", ""), d.rstrip(".") + ".", _title_case(d),
                       d.replace(".", ". ").strip()))


def pos_title_degree(rng):
    n = person(rng)
    mode = rng.choice(("drop", "drop", "drop_some", "add", "reformat", "change"))
    titled = with_titles(rng, n, force=True)
    if mode == "drop":
        return titled, n.render()
    if mode == "drop_some":
        if titled.prefix and titled.suffix:
            keep = rng.choice(("prefix", "suffix"))
            c = replace(titled, **{("suffix" if keep == "prefix" else "prefix"): ()})
        elif len(titled.prefix) > 1:
            c = replace(titled, prefix=titled.prefix[1:])
        elif len(titled.suffix) > 1:
            c = replace(titled, suffix=titled.suffix[:1])
        else:
            return None
        return titled, c.render()
    if mode == "add":
        return n, titled.render()
    if mode == "reformat":
        if not titled.suffix and not titled.prefix:
            return None
        pre = " ".join(p.replace(".", "") if rng.random() < .5 else p for p in titled.prefix)
        toks = " ".join(titled.tokens)
        suf = " ".join(_degree_variant(rng, d) for d in titled.suffix)
        sep = rng.choice((" ", ", ", " ,"))
        text = (pre + " " if pre else "") + toks + (sep + suf if suf else "")
        return titled, text
    other = with_titles(rng, n, force=True)  # a different set of titles
    if other.render() == titled.render():
        return None
    return titled, other.render()


def pos_muhammad(rng):
    v1 = rng.choice(MUHAMMAD_FULL) if rng.random() < .75 else rng.choice(MUHAMMAD)
    v2 = rng.choice([v for v in MUHAMMAD if v != v1 and v.rstrip(".") != v1.rstrip(".")])
    tail = rng.sample(MUSLIM_M + FAMILY_M, rng.choice((1, 1, 2)))
    n = with_titles(rng, Name((v1, *tail), "M", "muslim"))
    c = replace(n, tokens=(v2, *tail))
    return n, c.render()


def pos_spacing(rng):
    head = rng.choice(list(SPACING_HEADS))
    tail = rng.choice(SPACING_HEADS[head])
    split = (head, tail)
    joined = (head + tail,)
    if rng.random() < .15:
        joined = (head + "-" + tail,) if rng.random() < .5 else (head + tail,)
    sex = "F" if head in ("NUR", "NURUL", "SRI") and rng.random() < .7 else "M"
    rest = rng.sample(FAMILY_M if sex == "M" else FAMILY_F, rng.choice((0, 1, 1)))
    a, b = (split, joined) if rng.random() < .5 else (joined, split)
    if "-" in a[0]:
        a, b = b, a  # registry never stores the hyphen form
    n = with_titles(rng, Name(a + tuple(rest), sex, "muslim"))
    return n, replace(n, tokens=b + tuple(rest)).render()


def pos_order(rng):
    n = person(rng, kind=rng.choice(("batak", "batak", "manado", "chinese", "jv", "sunda")),
               min_tokens=2)
    t = n.tokens
    if rng.random() < .5:
        stored, claimed = t, (t[-1],) + t[:-1]
    else:
        stored, claimed = (t[-1],) + t[:-1], t
    text = " ".join(claimed)
    if rng.random() < .3 and stored == t:
        text = claimed[0] + ", " + " ".join(claimed[1:])
    return replace(n, tokens=stored), text


def pos_old_spelling(rng):
    g = rng.choice(OLD_SPELLING)
    a, b = rng.sample(g, 2)
    n = _place(rng, a)
    if _famous(n.tokens) or _famous(tuple(b if x == a else x for x in n.tokens)):
        return None
    n = with_titles(rng, n)
    return n, replace(n, tokens=tuple(b if x == a else x for x in n.tokens)).render()


def pos_doubled(rng):
    a, b = rng.sample(rng.choice(DOUBLED), 2)
    n = with_titles(rng, _place(rng, a))
    return n, replace(n, tokens=tuple(b if x == a else x for x in n.tokens)).render()


def pos_trailing_yi(rng):
    a, b = rng.sample(rng.choice(TRAILING), 2)
    n = with_titles(rng, _place(rng, a))
    return n, replace(n, tokens=tuple(b if x == a else x for x in n.tokens)).render()


def pos_initial(rng):
    n = person(rng, kind=rng.choice(("jv", "jv", "muslim", "batak", "sunda", "chinese")),
               min_tokens=2)
    t = n.tokens
    if len(t) >= 3:
        i = rng.randrange(1, len(t) - 1) if rng.random() < .75 else len(t) - 1
    else:
        i = 1
    if t[i] in ("ABDUL", "NUR", "SITI") or len(t[i]) < 3:
        return None
    ini = t[i][0] + rng.choice((".", ".", "", "."))
    short = t[:i] + (ini,) + t[i + 1:]
    if rng.random() < .8:
        n = with_titles(rng, n)
        return n, replace(n, tokens=short).render()
    return replace(n, tokens=short), n.render()


_VOWELS = "AEIOU"
_KEYS = ["QWERTYUIOP", "ASDFGHJKL", "ZXCVBNM"]


def _neighbours(ch: str) -> str:
    for row in _KEYS:
        if ch in row:
            j = row.index(ch)
            out = row[max(0, j - 1):j] + row[j + 1:j + 2]
            return out
    return ""


def _typo(rng: random.Random, tok: str) -> str | None:
    hi = len(tok) - 4  # never the first letter nor the last three
    if hi < 1:
        return None
    op = rng.choice(("sub", "sub", "del", "swap"))
    i = rng.randint(1, hi)
    if op == "sub":
        ch = tok[i]
        pool = (_VOWELS.replace(ch, "") if ch in _VOWELS and rng.random() < .7
                else _neighbours(ch))
        if not pool:
            return None
        new = tok[:i] + rng.choice(pool) + tok[i + 1:]
    elif op == "del":
        new = tok[:i] + tok[i + 1:]
    else:
        if i + 1 > hi or tok[i] == tok[i + 1]:
            return None
        new = tok[:i] + tok[i + 1] + tok[i] + tok[i + 2:]
    if new == tok or new in VOCAB or _loose(new) == _loose(tok):
        return None
    return new


def pos_typo(rng):
    n = person(rng, kind=rng.choice(("jv", "jv", "muslim", "batak", "sunda", "chinese",
                                     "bali", "jv")))
    cand = [i for i, t in enumerate(n.tokens) if len(t) >= 8 and "'" not in t]
    if not cand or len(n.render().replace(" ", "")) < 10:
        return None
    i = rng.choice(cand)
    new = _typo(rng, n.tokens[i])
    if new is None:
        return None
    n = with_titles(rng, n)
    return n, replace(n, tokens=n.tokens[:i] + (new,) + n.tokens[i + 1:]).render()


def pos_abd(rng):
    a, b = rng.sample(ABD[0], 2)
    if rng.random() < .7:
        a, b = "ABDUL", rng.choice(("ABD.", "ABD"))
    tail = (rng.choice(ABDUL_TAIL),) + tuple(rng.sample(FAMILY_M + MUSLIM_M,
                                                        rng.choice((0, 1, 1))))
    lead = (rng.choice(MUHAMMAD_FULL),) if rng.random() < .1 else ()
    n = with_titles(rng, Name(lead + (a,) + tail, "M", "muslim"))
    return n, replace(n, tokens=lead + (b,) + tail).render()


def pos_siti(rng):
    a, b = ("SITI", "SITTI") if rng.random() < .5 else ("SITTI", "SITI")
    tail = tuple(rng.sample(SITI_TAIL + FAMILY_F, rng.choice((1, 1, 2))))
    n = with_titles(rng, Name((a,) + tail, "F", "muslim"))
    return n, replace(n, tokens=(b,) + tail).render()


def pos_combined(rng):
    # a name rich in variable parts
    sex = rng.choice("MF")
    parts: list[str] = []
    old = [g for g in OLD_SPELLING if _sex_of(g[-1]) == sex]
    dbl = [g for g in DOUBLED if _sex_of(g[-1]) == sex]
    if sex == "M":
        parts.append(rng.choice(MUHAMMAD_FULL) if rng.random() < .5 else
                     rng.choice(rng.choice(old + TRAILING)))
        parts.append(rng.choice(rng.choice(old + dbl + TRAILING)
                                if rng.random() < .6 else MUSLIM_M + FAMILY_M))
    else:
        parts.append(rng.choice(("SITI", "SITTI")) if rng.random() < .6 else
                     rng.choice(FEMALE_GIVEN))
        parts.append(rng.choice(rng.choice(old + dbl)
                                if rng.random() < .6 else SITI_TAIL))
    if rng.random() < .4:
        parts.append(rng.choice(FAMILY_M if sex == "M" else FAMILY_F))
    if len(set(parts)) < len(parts) or _famous(parts):
        return None
    stored = with_titles(rng, Name(tuple(parts), sex, "muslim"), p=0.5)
    groups = OLD_SPELLING + DOUBLED + TRAILING + SITI + [MUHAMMAD]
    toks = stored.tokens
    for _ in range(3):
        new = _swap_in_groups(rng, toks, groups)
        if new is not None:
            toks = new
    # count effective changes only (a later swap may undo an earlier one)
    applied = sum(x != y for x, y in zip(toks, stored.tokens))
    claimed = replace(stored, tokens=toks)
    if stored.prefix or stored.suffix:
        if rng.random() < .7:
            claimed = replace(claimed, prefix=(), suffix=())
            applied += 1
    elif rng.random() < .3:
        claimed = with_titles(rng, claimed, force=True)
        applied += 1
    text = claimed.render()
    if rng.random() < .5:
        text = case_change(rng, text)
    if applied < 2 or _famous(toks):
        return None
    return stored, text


# --------------------------------------------------------------------------- negatives

def _claimed_titles(rng, stored: Name, claimed: Name) -> Name:
    """A different person's titles: none, the same (clerk copied), or others."""
    r = rng.random()
    if r < .55:
        return replace(claimed, prefix=(), suffix=())
    if r < .85:
        return replace(claimed, prefix=stored.prefix, suffix=stored.suffix)
    return with_titles(rng, replace(claimed, prefix=(), suffix=()), force=True)


def _noisy(rng, stored: Name, claimed: Name) -> str:
    c = _claimed_titles(rng, stored, claimed)
    text = c.render()
    if rng.random() < .3:
        text = case_change(rng, text)
    return text


def _distinct(a: str, b: str, min_lev: int = 3) -> bool:
    return _loose(a) != _loose(b) and _lev(_loose(a), _loose(b)) >= min_lev and \
        [a, b] not in GENDER_PAIRS and [b, a] not in GENDER_PAIRS


def neg_different(rng):
    a = with_titles(rng, person(rng))
    b = person(rng, kind=a.kind if rng.random() < .5 else None)
    la = {_loose(t) for t in a.tokens}
    if any(_loose(t) in la for t in b.tokens):
        return None
    return a, _noisy(rng, a, b)


_POOLS_LAST = {"jv": (FAMILY_M, FAMILY_F), "muslim": (MUSLIM_M + FAMILY_M,
               MUSLIM_F + FAMILY_F + SITI_TAIL), "batak": (BATAK_MARGA, BATAK_MARGA),
               "manado": (MANADO_FAM, MANADO_FAM), "sunda": (SUNDA_FAM, FAMILY_F),
               "chinese": (CHINESE_FAM, CHINESE_FAM)}
_POOLS_FIRST = {"jv": (MALE_GIVEN, FEMALE_GIVEN), "muslim": (MUSLIM_M + ["AHMAD"] +
                MUHAMMAD_FULL[:1], MUSLIM_F + ["SITI"]), "batak": (CHRIST_M, CHRIST_F),
                "manado": (CHRIST_M, CHRIST_F), "sunda": (SUNDA_M, SUNDA_F),
                "chinese": (CHINESE_M, CHINESE_F)}


def _replace_one(rng, first: bool):
    kinds = list(_POOLS_LAST)
    n = with_titles(rng, person(rng, kind=rng.choice(kinds + ["jv", "muslim"]),
                                min_tokens=2))
    i = 0 if first else len(n.tokens) - 1
    pools = (_POOLS_FIRST if first else _POOLS_LAST)[n.kind]
    pool = pools[0] if n.sex == "M" else pools[1]
    old = n.tokens[i]
    choices = [t for t in pool if _distinct(t, old) and t not in n.tokens]
    if not choices:
        return None
    new = n.tokens[:i] + (rng.choice(choices),) + n.tokens[i + 1:]
    if _famous(new):
        return None
    return n, _noisy(rng, n, replace(n, tokens=new))


def neg_diff_family(rng):
    return _replace_one(rng, first=False)


def neg_diff_given(rng):
    return _replace_one(rng, first=True)


def neg_extra_token(rng):
    n = person(rng, kind=rng.choice(("jv", "jv", "muslim", "muslim", "sunda", "batak",
                                     "chinese")), min_tokens=2)
    t = n.tokens
    fam = FAMILY_M if n.sex == "M" else FAMILY_F
    giv = MALE_GIVEN if n.sex == "M" else FEMALE_GIVEN
    if n.kind == "muslim":
        fam = (MUSLIM_M + FAMILY_M) if n.sex == "M" else (MUSLIM_F + FAMILY_F)
    from_giv = rng.random() >= .7
    extra = rng.choice(giv if from_giv else fam)
    if any(_loose(extra) == _loose(x) for x in t) or \
            any(extra.startswith(x) or x.startswith(extra) for x in t):
        return None
    if len(t) >= 3 and rng.random() < .3:
        longer = t
        j = rng.randrange(1, len(t))
        shorter = t[:j] + t[j + 1:]
    else:
        j = 1 if from_giv else (rng.randrange(1, len(t) + 1) if rng.random() < .3 else len(t))
        longer = t[:j] + (extra,) + t[j:]
        shorter = t
    if shorter[0] in ("ABDUL", "SITI", "NUR") and len(shorter) == 1:
        return None
    if _famous(longer):
        return None
    stored, claimed = (shorter, longer) if rng.random() < .5 else (longer, shorter)
    s = with_titles(rng, replace(n, tokens=stored))
    return s, _noisy(rng, s, replace(n, tokens=claimed))


def neg_siblings(rng):
    mode = rng.choice(("set", "set", "ordinal", "middle"))
    if mode == "set":
        a, b = rng.sample(rng.choice(SIBLING_SETS), 2)
        sex = _sex_of(a)
        first = rng.choice(("SITI", "SRI", "NUR", "DEWI") if sex == "F" else
                           ("MUHAMMAD", "AHMAD", "BUDI", "AGUS"))
        s = (first, a)
        c = (first, b)
    elif mode == "ordinal":
        a, b = rng.sample(ORDINALS, 2)
        tail = rng.choice(ORDINAL_TAILS)
        s, c, sex = (a, tail), (b, tail), _sex_of(tail)
        if rng.random() < .4:
            mid = rng.choice(MALE_GIVEN if sex == "M" else FEMALE_GIVEN)
            s, c = (a, mid, tail), (b, mid, tail)
    else:
        sex = rng.choice("MF")
        first = rng.choice(MUHAMMAD_FULL[:1] * 3 + (["SITI"] if sex == "F" else ["AHMAD"]))
        if sex == "F":
            first = rng.choice(("SITI", "NUR", "DEWI", "SRI"))
        pool = MUSLIM_M + MALE_GIVEN if sex == "M" else MUSLIM_F + FEMALE_GIVEN
        m1, m2 = rng.sample(pool, 2)
        if not _distinct(m1, m2):
            return None
        last = rng.choice(FAMILY_M if sex == "M" else FAMILY_F)
        s, c = (first, m1, last), (first, m2, last)
    if len(set(s)) < len(s) or len(set(c)) < len(c) or _famous(s) or _famous(c):
        return None
    n = with_titles(rng, Name(s, sex, "jv"))
    return n, _noisy(rng, n, replace(n, tokens=c))


def neg_gender(rng):
    mode = rng.choice(("pair", "pair", "pair", "bali"))
    if mode == "bali":
        m = person(rng, kind="bali", sex="M")
        if m.tokens[1] == "GEDE":
            return None
        # NI + the female counterpart of the given name (or the same given name)
        tail = m.tokens[2]
        fem = tail[:-1] + "I" if tail.endswith("A") and rng.random() < .5 else tail
        f = ("NI",) + m.tokens[1:2] + (fem,)
        a, b = (m.tokens, f) if rng.random() < .5 else (f, m.tokens)
        n = Name(a, "M" if a[0] == "I" else "F", "bali")
        return n, _noisy(rng, n, replace(n, tokens=b))
    male, female = rng.choice(GENDER_PAIRS)
    a, b = (male, female) if rng.random() < .5 else (female, male)
    sex = "M" if a == male else "F"
    r = rng.random()
    if r < .35:
        toks, alt = (a,), (b,)
    elif r < .7:  # gendered token as given name, shared father's/family name
        other = rng.choice(FAMILY_M + MUSLIM_M)
        toks, alt = (a, other), (b, other)
    else:  # gendered token last, shared given-like first token
        first = rng.choice(("ADI", "DWI", "EKA", "TRI", "BAYU") if sex == "M" else
                           ("DWI", "EKA", "NUR", "RATNA", "INDAH", "SRI"))
        toks, alt = (first, a), (first, b)
    if len(set(toks)) < len(toks) or _famous(toks) or _famous(alt):
        return None
    n = with_titles(rng, Name(toks, sex, "jv"))
    return n, _noisy(rng, n, replace(n, tokens=alt))


def neg_balinese(rng):
    n = person(rng, kind="bali")
    i = 2 if n.tokens[1] == "LUH" else 1
    order = next(k for k, v in BALI_ORDER.items() if n.tokens[i] in v)
    other = rng.choice([x for k, v in BALI_ORDER.items() if k != order for x in v])
    new = n.tokens[:i] + (other,) + n.tokens[i + 1:]
    n = with_titles(rng, n, p=0.05)
    return n, _noisy(rng, n, replace(n, tokens=new))


def neg_near_name(rng):
    a, b = rng.sample(rng.choice(NEAR_NAMES), 2)
    n = _place(rng, a, allow_mono=rng.random() < .5)
    if a in n.tokens[:1] and len(n.tokens) > 1 and rng.random() < .3:
        pass
    if b in n.tokens or _famous(n.tokens):
        return None
    new = tuple(b if x == a else x for x in n.tokens)
    if _famous(new):
        return None
    n = with_titles(rng, n)
    return n, _noisy(rng, n, replace(n, tokens=new))


def neg_mononym(rng):
    sex = rng.choice("MF")
    sufs = MONO_SUF_M if sex == "M" else MONO_SUF_F
    stem = rng.choice(MONO_STEMS)
    suf = rng.choice(sufs)
    if rng.random() < .5:  # same stem, another suffix of the same sex
        other_suf = rng.choice([x for x in sufs if x != suf])
        a, b = stem + suf, stem + other_suf
    else:  # same suffix, a stem one or two letters away
        close = [s for s in MONO_STEMS if s != stem and _lev(s, stem) <= 2]
        if not close:
            return None
        a, b = stem + suf, rng.choice(close) + suf
    if a == b or _loose(a) == _loose(b) or _famous([a]) or _famous([b]):
        return None
    n = with_titles(rng, Name((a,), sex, "mono"), p=0.1)
    return n, _noisy(rng, n, replace(n, tokens=(b,)))


GENERATORS: dict[str, Callable] = {
    "exact": pos_exact, "case_punct": pos_case_punct, "title_degree": pos_title_degree,
    "muhammad": pos_muhammad, "spacing": pos_spacing, "order": pos_order,
    "old_spelling": pos_old_spelling, "doubled": pos_doubled,
    "trailing_yi": pos_trailing_yi, "initial": pos_initial, "typo": pos_typo,
    "abd": pos_abd, "siti": pos_siti, "combined": pos_combined,
    "different": neg_different, "diff_family": neg_diff_family,
    "diff_given": neg_diff_given, "extra_token": neg_extra_token,
    "siblings": neg_siblings, "gender": neg_gender, "balinese": neg_balinese,
    "near_name": neg_near_name, "mononym": neg_mononym,
}

# --------------------------------------------------------------------------- hand cases

HAND = """
exact|NI LUH PUTU SUARNITI|NI LUH PUTU SUARNITI
exact|SUPARMIN|SUPARMIN
exact|YOHANES K. SITOMPUL|YOHANES K. SITOMPUL
case_punct|MA'RUF HIDAYAT|Maruf Hidayat
case_punct|SITI NUR'AINI|SITI NURAINI
case_punct|BUDI SANTOSO|  budi   santoso .
case_punct|YOHANES K. SITOMPUL|YOHANES K SITOMPUL
case_punct|DR. IR. H. ARIEF BUDIMAN, M.SC|dr ir h arief budiman msc
case_punct|SYAFI'I ANWAR|Syafi`i Anwar
case_punct|RATNA SARI DEWI|Ratna Sari Dewi
title_degree|HJ. SITI AMINAH, S.PD.I|SITI AMINAH
title_degree|DRS. H. MOCHAMAD SLAMET, M.SI|MOCHAMAD SLAMET
title_degree|BUDI SANTOSO|IR. BUDI SANTOSO, M.T.
title_degree|PROF. DR. IR. HARYANTO, M.SC|HARYANTO
title_degree|DRA. ENDANG SRI LESTARI|ENDANG SRI LESTARI, S.PD
title_degree|RATNA SARI, AMD.KEB|RATNA SARI A.MD.KEB
title_degree|DR. FITRIANI, SP.A|FITRIANI
title_degree|HENDRA GUNAWAN, S.E., M.M.|HENDRA GUNAWAN SE MM
title_degree|H. ABDUL GANI|ABDUL GANI
title_degree|HJ. NURHAYATI|Hj Nurhayati
muhammad|MUHAMMAD RIZKI RAMADHAN|M. RIZKI RAMADHAN
muhammad|MOCHAMMAD ARIF|MOCH ARIF
muhammad|MUH. SALEH|MUHAMMAD SALEH
muhammad|MHD. IQBAL HARAHAP|MUHAMMAD IQBAL HARAHAP
muhammad|MOHAMAD YUSUF|MOHAMMAD YUSUF
muhammad|M. ALI|MUHAMMAD ALI
muhammad|MUHAMMAD FAJAR|MUHAMAD FAJAR
muhammad|MOH. HASAN|MOHAMMAD HASAN
spacing|ABDURRAHMAN|ABDUL RAHMAN
spacing|NURHALIZA|NUR HALIZA
spacing|ZAINAL ABIDIN|ZAINALABIDIN
spacing|SYAMSUL BAHRI|SYAMSULBAHRI
spacing|NURHAYATI|NUR-HAYATI
spacing|SITI NUR HALIZA|SITI NURHALIZA
order|SIMANJUNTAK ROBERT|ROBERT SIMANJUNTAK
order|WOWOR JOHANES|JOHANES WOWOR
order|MARIA ELISABETH SIREGAR|SIREGAR, MARIA ELISABETH
order|HALIM WILLIAM|WILLIAM HALIM
old_spelling|DJOKO SOESILO WIBOWO|JOKO SUSILO WIBOWO
old_spelling|TJAHJONO|CAHYONO
old_spelling|TJAHJONO|TJAHYONO
old_spelling|ACHMAD CHOLID|AHMAD KHOLID
old_spelling|KHAIRUL ANWAR|CHAIRUL ANWAR
old_spelling|JUSUF HAKIM|YUSUF HAKIM
old_spelling|SJAMSUL HADI|SYAMSUL HADI
old_spelling|I NJOMAN SUDIRA|I NYOMAN SUDIRA
old_spelling|OETOMO|UTOMO
old_spelling|POERWANINGSIH|PURWANINGSIH
old_spelling|MOECHTAR LUBIS|MUKHTAR LUBIS
old_spelling|SOEDJONO|SUJONO
doubled|ABDULLAH|ABDULAH
doubled|HASSAN BASRI|HASAN BASRI
doubled|SYAMSUDDIN|SYAMSUDIN
doubled|ANNISA FITRI|ANISA FITRI
doubled|FEBBY ANGGRAINI|FEBY ANGGRAINI
trailing_yi|HENDRY|HENDRI
trailing_yi|RIZKY AMALIA|RIZKI AMALIA
trailing_yi|SETIADY|SETIADI
trailing_yi|RUDI HARTONO|RUDY HARTONO
initial|BUDI SANTOSO|BUDI S.
initial|YOHANES KRISTIANTO SITOMPUL|YOHANES K. SITOMPUL
initial|AGUS TRI HARYANTO|AGUS T HARYANTO
initial|DEWI R. LESTARI|DEWI RATNA LESTARI
typo|SUSILOWATI|SUSILAWATI
typo|RAHMAWATI NUGROHO|RAHMWATI NUGROHO
typo|KURNIASIH HANDAYANI|KURNIASIH HANDYANAI
typo|PURWANINGSIH|PURWANIGSIH
typo|BUDI SETYANINGRAT|BUDI SETYANIGRAT
abd|ABD. RAHMAN|ABDUL RAHMAN
abd|ABD RAHIM|ABDUL RAHIM
abd|ABDUL GANI|ABD. GANI
abd|H. ABD. KADIR|ABDUL KADIR
siti|SITTI NURHALIZA|SITI NURHALIZA
siti|SITI AMINAH|SITTI AMINAH
siti|HJ. SITTI MARYAM|SITI MARYAM
combined|H. MOCHAMAD SOEHARTO, S.H.|Muhammad Suharto
combined|HJ. SITTI CHADIJAH|SITI KHADIJAH
combined|DRS. ACHMAD DJUNAIDI|AHMAD JUNAIDI
combined|IR. TJAHJO KOESOEMO|CAHYO KUSUMO
combined|MUHAMMAD ABDULLAH|MOH. ABDULAH
combined|DJOKO HENDRY, S.E.|JOKO HENDRI
combined|MOCH. NOERHADI|Muhammad Nurhadi
different|RINA MARLINA|DEDI KURNIAWAN
different|SUPARMAN|WAHYUNI
different|I WAYAN SUDARTA|ROBERT SIMANJUNTAK
diff_family|BUDI SANTOSO|BUDI SETIAWAN
diff_family|MUHAMMAD RIZKI|MUHAMMAD FAUZI
diff_family|ROBERT SIMANJUNTAK|ROBERT SIREGAR
diff_family|H. AHMAD HIDAYAT|AHMAD HAKIM
diff_family|SITI AMINAH|SITI FATIMAH
diff_given|ROBERT SIMANJUNTAK|DANIEL SIMANJUNTAK
diff_given|MUHAMMAD RIZKI|AHMAD RIZKI
diff_given|SITI AMINAH|DEWI AMINAH
diff_given|BUDI SANTOSO|AGUS SANTOSO
extra_token|AHMAD FAUZI|AHMAD FAUZI RAHMAN
extra_token|MUHAMMAD IQBAL|MUHAMMAD IQBAL FIRDAUS
extra_token|SRI WAHYUNI|SRI
extra_token|DEWI LESTARI|DEWI SRI LESTARI
extra_token|BUDI SANTOSO|BUDI
siblings|SITI AMINAH|SITI AMINATUN
siblings|EKA PRASETYA|DWI PRASETYA
siblings|SRI WAHYUNI|SRI WAHYUNINGSIH
siblings|MUHAMMAD RIZKI RAMADHAN|MUHAMMAD FAJAR RAMADHAN
siblings|NUR AINI|NUR AINUN
gender|ADI PUTRA|ADI PUTRI
gender|SUPARNO|SUPARNI
gender|HARYANTO NUGROHO|HARYANTI NUGROHO
gender|I KETUT SUDARTA|NI KETUT SUDARTI
gender|HABIB ALWI|HABIBAH ALWI
balinese|I WAYAN SUDARTA|I MADE SUDARTA
balinese|NI LUH PUTU SUARNITI|NI LUH KADEK SUARNITI
balinese|I GEDE ARTAWAN|I KOMANG ARTAWAN
balinese|I NYOMAN ASTAWA|I KETUT ASTAWA
near_name|RAHMAT HIDAYAT|RAHMAN HIDAYAT
near_name|JOKO SANTOSO|JONO SANTOSO
near_name|AGUS SETIAWAN|AGUNG SETIAWAN
near_name|HASAN BASRI|HUSIN BASRI
near_name|RINA WULANDARI|RINI WULANDARI
mononym|SUPARMAN|SUPARMIN
mononym|SUDARMAN|SUTARMAN
mononym|PAIMAN|PAIJO
mononym|SUGIYONO|SUGIYANTO
"""


def hand_rows() -> list[tuple[str, str, int, str]]:
    rows = []
    for line in HAND.strip().splitlines():
        cat, stored, claimed = line.split("|")
        rows.append((stored, claimed, LABEL[cat], cat))
    return rows


# --------------------------------------------------------------------------- build


def generate(seed: int = 7, per_category: int = 150,
             include_hand: bool = True) -> list[tuple[str, str, int, str]]:
    """All rows, deterministic for (seed, per_category). Positives: `per_category` per
    positive category; negatives: the same total spread over the negative categories."""
    rng = random.Random(seed)
    n_neg = round(per_category * len(POSITIVE_CATEGORIES) / len(NEGATIVE_CATEGORIES))
    rows: list[tuple[str, str, int, str]] = []
    seen: set[tuple[str, str]] = set()

    def add(stored: str, claimed: str, same: int, cat: str) -> bool:
        key = (stored, claimed)
        if key in seen:
            return False
        seen.add(key)
        rows.append((stored, claimed, same, cat))
        return True

    if include_hand:
        for r in hand_rows():
            add(*r)
    for cat in POSITIVE_CATEGORIES + NEGATIVE_CATEGORIES:
        want = per_category if LABEL[cat] else n_neg
        got, attempts = 0, 0
        gen = GENERATORS[cat]
        while got < want and attempts < want * 60:
            attempts += 1
            out = gen(rng)
            if out is None:
                continue
            stored_name, claimed = out
            stored = stored_name.render()
            if LABEL[cat] == 0 and _norm(stored) == _norm(claimed):
                continue
            if LABEL[cat] == 1 and cat != "exact" and stored == claimed:
                continue
            if add(stored, claimed, LABEL[cat], cat):
                got += 1
    return rows


def to_csv(rows: Iterable[tuple[str, str, int, str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FIELDS)
    w.writerows(rows)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="bench/namepairs/pairs.csv")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--per-category", type=int, default=150,
                    help="generated pairs per positive category (negatives balance them)")
    ap.add_argument("--no-hand", action="store_true", help="omit the hand-written cases")
    ap.add_argument("--ambiguous", action="store_true",
                    help="print the deliberately excluded ambiguous cases and exit")
    args = ap.parse_args(argv)
    if args.ambiguous:
        for s, c, why in AMBIGUOUS:
            print(f"{s!r} vs {c!r}: {why}")
        return 0
    rows = generate(args.seed, args.per_category, include_hand=not args.no_hand)
    text = to_csv(rows)
    with open(args.out, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    pos = sum(r[2] for r in rows)
    print(f"wrote {len(rows)} pairs ({pos} same, {len(rows) - pos} different, "
          f"{len(text.encode()) // 1024} KiB) to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
