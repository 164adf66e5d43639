"""Synthetic Indonesian person names: pools per naming tradition and the name builders.

Every pool below is a list of common given names, clan or family names written for this
generator; a generated full name is a random combination, not a real person's record.
Names are UPPERCASE as Dukcapil stores them. Builders take the household's tradition
(culture.JAWA ...), sex (0 male, 1 female), birth year and religion.
"""

from __future__ import annotations

import random

from .culture import (
    BALI,
    BATAK,
    BUGIS,
    ISLAM,
    JAWA,
    KATHOLIK,
    KRISTEN,
    MELAYU,
    MINANG,
    SUB_DAYAK,
    SUB_MALUKU,
    SUB_MINAHASA,
    SUB_NTT,
    SUB_PAPUA,
    SUB_TORAJA,
    SUNDA,
    TIMUR,
    TIONGHOA,
)
from .pick import Weighted, uniform


def _w(text: str) -> tuple[str, ...]:
    """A pool from a comma-separated string (keeps the tables compact)."""
    return tuple(" ".join(s.split()) for s in text.split(",") if s.strip())


# --- shared pools ---------------------------------------------------------------------
ISLAMIC_M = _w("""AHMAD, ABDUL ROHMAN, ABDUL RAHMAN, ABDUL AZIS, ABDULLAH, ALI, HASAN, HUSEN,
    IBRAHIM, ISMAIL, YUSUF, SYAIFUL, SAIFUL, ZAINAL, ARIFIN, NURDIN, JAMALUDIN, SYAMSUL,
    RAHMAT, FAUZI, MAHMUD, UMAR, USMAN, HAMZAH, ZULKIFLI, IMRON, MUKHLIS, LUTFI, KHOIRUL,
    ANWAR, NASRUDIN, SUBHAN, ABDUL KHOLIK, ABDUL MALIK, ABDUL HAKIM, MUSTOFA, MASRUR,
    SOLEH, SHOLEH, ROSYID, ILYAS, IDRIS, YAHYA, ZAKARIA, SALIM, BURHANUDIN, NURHADI""")
ISLAMIC_M2 = _w("""FAUZI, HIDAYAT, RAHMAN, SYAIFUDIN, MAULANA, ANSHORI, ARIFIN, HAKIM, KHOLIL,
    IDRIS, ROSYIDI, AZIZ, MUBAROK, FIRDAUS, NAWAWI, BASRI, HASYIM, ZUHRI, ASYARI, RIDHO""")
ISLAMIC_F = _w("""SITI AMINAH, SITI, NUR, NURUL, AISYAH, FATIMAH, KHADIJAH, ZAINAB, MASITAH,
    HALIMAH, AMINAH, ROHMAH, MAIMUNAH, NURJANAH, NUR JANAH, NURHAYATI, NUR HAYATI, SALMAH,
    RUKAYAH, HASANAH, HANIFAH, MARYAM, SAFIAH, UMI, KHOIRUNNISA, LAILA, ZULAIKHA,
    MUSLIMAH, NAFISAH, SITI KHOTIJAH, SITI MARYAM, ROBIAH, JAMILAH, NURAINI, NUR AINI""")
ISLAMIC_F2 = _w("""AMINAH, KHOTIMAH, MUNAWAROH, NURJANNAH, FAUZIAH, ROHMAWATI, HASANAH,
    ZAHROH, MAHMUDAH, SHOLIHAH, KHASANAH, MUFIDAH, ULFAH, NIKMAH, FADILAH, AZIZAH""")
MODERN_M = _w("""ADITYA, RIZKY, RIZKI, DIMAS, BAYU, FAJAR, RENDI, DENI, YOGA, GILANG, ILHAM,
    FIRMAN, ARIF, DANI, RAFI, FARHAN, ALIF, ZIDAN, RAFA, ARKAN, KEVIN, RIDWAN, ANGGA,
    REZA, ARYA, BIMA, GALANG, NAUFAL, HAFIZ, DAFFA, FATHAN, AZKA, DIKA, ANDIKA, YUDHA,
    HENDRA, AGUNG, EKO, DWI, TRI, ANDI, IRFAN, DONI, ADI, FERRY, RIFKY, AKBAR, ABIZAR""")
MODERN_M2 = _w("""PRATAMA, SAPUTRA, RAMADHAN, MAULANA, FIRMANSYAH, KURNIAWAN, HIDAYAT, NUGRAHA,
    PERMANA, WIJAYA, SETIAWAN, AL FARIZI, ALFARIZI, AKBAR, FAUZAN, SYAHPUTRA, PRADANA,
    ADITAMA, NUGROHO, PRASETYO, SANTOSO, WIBOWO, FADILLAH, ARDIANSYAH, HERMAWAN,
    SEPTIAN, OKTAVIAN, FEBRIANSYAH, PUTRA, ADI PUTRA, SAPUTRO, ANUGRAH, PAMUNGKAS""")
MODERN_F = _w("""PUTRI, AYU, DEWI, NOVITA, ANISA, ANNISA, SALSABILA, NAYLA, AULIA, KHANZA, ZAHRA,
    CITRA, INDAH, DIAN, RATNA, FITRI, NABILA, AZZAHRA, KEISHA, ALYA, AQILA, INTAN, MAYA,
    NURUL, DINDA, RISKA, ELISA, TIARA, SINTA, YUNI, LINA, WULAN, MELATI, NADIA, SELVI,
    RINA, EVI, DEVI, MEGA, RANI, SAFIRA, NAJWA, ADINDA, FEBBY, REVA, ZASKIA, ANGGUN""")
MODERN_F2 = _w("""PERMATASARI, LESTARI, RAHMAWATI, SARI, AMELIA, NURHALIZA, NUR HALIZA,
    PUSPITASARI, KARTIKA, ANGGRAINI, MAHARANI, SAFITRI, OKTAVIANI, RAMADHANI, AZZAHRA,
    FEBRIANTI, PRATIWI, KUSUMAWATI, WULANDARI, NOVIANTI, HANDAYANI, APRILIA, SEPTIANI,
    MAULIDA, FITRIANI, PUTRI, AYUNINGTYAS, NINGRUM, CAHYANI, SALSABILA, KHAIRUNNISA""")
BAPTISM_M = _w("""YOHANES, PETRUS, FRANSISKUS, AGUSTINUS, YOSEPH, YOSEF, MARTHEN, ALEXANDER,
    DOMINIKUS, ANTONIUS, MARKUS, YAKOBUS, PAULUS, STEFANUS, FREDERIK, YULIUS, MATHEUS,
    SIMON, ELIAS, NIKOLAS, YERMIAS, DANIEL, OKTOVIANUS, NATALIS, LUKAS, ROBERTUS,
    BERNADUS, KORNELIS, ANDREAS, HENDRIKUS, PIUS, YONATAN, YUNUS, MELKIANUS, ONESIMUS,
    YOHANIS, ARNOLDUS, GABRIEL, MIKAEL, SEBASTIANUS, VINSENSIUS, ALFONSUS, YUSUF""")
BAPTISM_F = _w("""MARIA, MARGARETHA, YOHANA, ELISABETH, AGNES, KATARINA, MARTHA, SERLY,
    FRANSISKA, VERONIKA, ANASTASIA, KRISTINA, YULIANA, MAGDALENA, DORKAS, DEBORA,
    ROSALINA, MARIANA, FLORENTINA, SELFINA, YAKOMINA, PRISKILA, HERLINA, MERI, YOSINA,
    FERONIKA, BERNADETA, SISILIA, THERESIA, LUSIA, MONIKA, REGINA, YOSEFINA, KORNELIA""")
MUHAMMAD = Weighted([("MUHAMMAD", 40), ("MUHAMAD", 16), ("MOHAMMAD", 9), ("MOHAMAD", 5),
                     ("MOH.", 10), ("M.", 12), ("MUH.", 5), ("MOCH.", 3)])

# --- per tradition ----------------------------------------------------------------------
JAWA_M = _w("""SUPARMAN, SUGIARTO, SUPRIYADI, SLAMET, BAMBANG, JOKO, BUDI, HERU, AGUS,
    SUTRISNO, SUYANTO, SUKIMAN, PAIMAN, PARJO, WAGIMAN, SUNARTO, PRAYITNO, HARYANTO,
    SUGENG, KUSNADI, SUBAGYO, GIYANTO, SUROSO, SUPRAPTO, SUMARNO, MULYONO, DARMAJI,
    TUKIMAN, SARIMAN, KARNO, SUWARNO, SUPARNO, WARSITO, SUDARSONO, SUKARDI, TRIYONO,
    SUJADI, PAIDI, NGADIMAN, KASIMAN, RUSDI, SUNARDI, HADI, SISWANTO, WIDODO, PURWANTO,
    ARIS, TEGUH, YULI, NANANG, SURYADI, CIPTO, SUYONO, JUMADI, WAHYUDI, SUPANGAT""")
JAWA_M2 = _w("""SANTOSO, WIBOWO, PRASETYO, NUGROHO, SETIAWAN, SUSILO, HARTONO, PURNOMO,
    WIDODO, SUSANTO, WALUYO, RAHARJO, SAPUTRO, PRABOWO, HANDOKO, KUSUMO, UTOMO, SUSENO,
    SULISTYO, SETYAWAN, RIYADI, SUPRAPTO, WIJAYANTO, PRIYANTO, SURYONO, SUNARYO,
    HARYONO, SUGIHARTO, DARMAWAN, PAMUNGKAS, WIBISONO, ARIYANTO, PURWOKO""")
JAWA_F = _w("""SRI, SITI, SUMARNI, SUMIATI, WARSINI, PAINEM, TUMINAH, SUPARTINI, SUKINAH,
    ENDANG, TRI, DWI, RETNO, SULASTRI, SUMIYATI, MARYATI, SUWARNI, KASMINAH, NGATINAH,
    WARTINI, MURNI, SUNARSIH, KUSMIATI, PARTINI, WIWIK, YULI, NUNUK, ENDAH, SUPARMI,
    SUYATMI, TUKINEM, SARMI, SUKESI, WAGIYEM, JUMINAH, KARSINI, SUMINAH, SRI WAHYUNI,
    SRI SUMARNI, SRI REJEKI, TITIK, ANIK, UMI, ERNA, NINIK, YAYUK, SUGIYEM""")
JAWA_F2 = _w("""WAHYUNI, LESTARI, RAHAYU, HANDAYANI, SETYANINGSIH, WULANDARI, PURWANTI,
    KURNIASIH, MULYANI, SUSANTI, ASTUTI, WIDAYATI, NINGSIH, RAHMAWATI, SUPRAPTI,
    PUJIASTUTI, UTAMI, ANGGRAENI, PRATIWI, SULISTYOWATI, WIDIASTUTI, SURYANI,
    PURWANINGSIH, SETYOWATI, HARTATI, MUJIATI, ARIYANI, NURYANI""")
SUNDA_M = _w("""ASEP, UJANG, DEDE, CECEP, DADANG, YAYAT, ENCEP, AGUS, DEDI, JAJANG, UUS,
    OTONG, UDIN, ENJANG, ADE, OMAN, EMAN, ENDANG, DUDUNG, AEP, IWAN, WAWAN, DENI, YANA,
    JUJU, ATENG, DANA, YUDI, KOKO, UCUP, MAMAN, ENDIN, ODING, ENGKOS, ENTIS, YOYO""")
SUNDA_M2 = _w("""SUNANDAR, SUPRIATNA, KURNIAWAN, HIDAYAT, SETIAWAN, RUSTANDI, SUHENDAR,
    SUPRIADI, MULYANA, HERMAWAN, SOBARI, GUNAWAN, RUKMANA, SAEPUDIN, SOLIHIN, RAHMAT,
    SURYANA, KOSASIH, SAPUTRA, NURJAMAN, FIRMANSYAH, SUHERMAN, SUMPENA, KUSNADI,
    DARMAWAN, PERMANA, NUGRAHA, SURYADI, SOPANDI, JUANDA, SUTISNA, ROHMAT""")
SUNDA_F = _w("""EUIS, NENG, IIS, ENOK, IMAS, NINING, YAYAH, CUCU, ENENG, LILIS, TITIN, EMAH,
    NANI, ENTIN, OOM, ICIH, EPON, ENUNG, AAH, UUM, NENI, ELIS, YENI, TATI, EVI, RINA,
    NUNUNG, ENTIN, DEDEH, EUTIK, EMUN, ELAH, KOKOM, ANAH""")
SUNDA_F2 = _w("""KOMARIAH, NURHAYATI, ROSMIATI, SURYANI, HANDAYANI, MULYATI, SUMARNI,
    JUBAEDAH, ROHAYATI, KURNIASIH, SUSILAWATI, NURLAELA, NURLELA, RAHMAWATI, SITI
    ROHMAH, AISAH, MARLIAH, SARIPAH, HALIMAH, SOBARIAH, ROSITA, KARTINI, SUKAESIH""")
MELAYU_M = _w("""SYAHRIAL, ZULKARNAIN, RUSLI, AZHAR, EFENDI, EFFENDI, ROSLAN, HERMANSYAH,
    JUNAIDI, MUKHTAR, SYAFRUDIN, TARMIZI, RIDWAN, ZAKARIA, FADLI, AMRAN, HAMDANI,
    IRWANSYAH, BAHTIAR, KHAIRUL, SAFRIZAL, ZAINUDDIN, MAHYUDIN, SAMSUDIN, RAMLI, YUSRI,
    MASRI, NASRUL, HASBI, MURSALIN, ZULFAHMI, SAIFUDDIN, JAMALUDDIN, ABDUL MANAF, SAPRI,
    ALAMSYAH, MUSLIM, RAHMADI, DARMANSYAH, ISKANDAR, MAHMUDIN, HUSNI, SULAIMAN""")
MELAYU_F = _w("""NURHAYATI, ROSMAWATI, ASMAH, MARLINA, YUSNIDAR, NURAINI, SALMIAH, ERNAWATI,
    YULIANA, FITRIANI, RAHMAH, JULIANA, HASNAH, DAHLIA, ZUBAIDAH, NURSIAH, MASNAH,
    ROSNI, ROSMALA, MARIANI, NORMA, SUMIATI, HALIMATUSSADIAH, NURLIANA, ROHANI, ASNAH,
    MAIMUNAH, RUSMINI, SALMA, JAMILAH, ZURAIDA, NURBAITI, HERLINA, YUSMINAR, ERNI""")
MINANG_M = _w("""AFRIZAL, ZULFIKAR, YUSRIZAL, DESRIZAL, ROSMAN, SYAFRIL, ZULHENDRI, NOVRIZAL,
    DASRIL, ELFIANDRI, IRWAN, DEDI, JONI, RIKO, FERDIAN, ANDRIZAL, ERMAN, HENDRI,
    SYAIFUL, YONDRI, ASRIL, NASRUL, DEFRIZAL, HARDIANTO, ZULFAHMI, RONI, ARMEN, YULIZAR,
    SYAFRIZAL, BUSTAMI, DARWIS, MASRIL, ALFIAN, ZAINAL, AMRIZAL, IRFAN, FAISAL""")
MINANG_F = _w("""YULIANIS, ROSMANIAR, NURHAYATI, ELFI, WIDIA, RAHMI, YUSNIAR, DESMAWATI,
    NOFRIANTI, YELFI, ASNIAR, RISNAWATI, ZURAIDA, MARNI, YENNI, YUSMANIAR, ELVIRA, FITRI,
    NURLELI, ERMAWATI, YULIA, ROSNELI, DESWITA, SUSI, WATI, YUSNIDAR, NILA, EMILIA, REFNI,
    HASNIATI, YELMI, LISMAWATI, NELLY, YANTI""")
BATAK_CHR_M = _w("""JONI, ROBERT, HOTMAN, TUMPAL, PARULIAN, BONAR, MARULI, LAMHOT, POLTAK,
    JANSEN, RUDOLF, BINSAR, SAHAT, TIGOR, HERBERT, DAVID, SAMUEL, DANIEL, JOSUA, RICHARD,
    MANGATUR, PANDAPOTAN, HASUDUNGAN, TORANG, BENNY, DEDY, FRANKY, HENDRA, JHONSON,
    RAJA, MARTUA, ANTONIUS, ROY, ANDREAS, MARUDUT, OLOAN, SUTAN""")
BATAK_CHR_F = _w("""MARIA, RUGUN, TIUR, RITA, LASMA, DUMA, SARMA, NURMAIDA, ROSLINA, MARTA,
    DEBORA, YOHANA, LAMRIA, RISMA, SRI ULINA, ELISABETH, LENNY, HOTMAULI, ROSDIANA,
    MELATI, TIURMA, SONDANG, ROMAULI, DEWI, JULI, NURHAIDA, MASTIUR, RONAULI, ESTER,
    ROTUA, SAULINA, LUSIANA, HERLINA, MAULINA""")
BATAK_CLAN = _w("""SIMANJUNTAK, SIREGAR, SIMATUPANG, SITORUS, SIHOMBING, PANJAITAN, HUTAGALUNG,
    HUTAPEA, SIAGIAN, SINAGA, SITOMPUL, MANURUNG, SILALAHI, TAMPUBOLON, SIANTURI,
    PASARIBU, GULTOM, NAINGGOLAN, SARAGIH, PURBA, DAMANIK, GINTING, TARIGAN, SEMBIRING,
    SITEPU, PERANGIN-ANGIN, KARO-KARO, SIMBOLON, MARPAUNG, NAPITUPULU, SIBARANI,
    SIMAMORA, HUTABARAT, HUTAURUK, SIANIPAR, SIMANULLANG, LUMBAN GAOL, LUMBANTOBING,
    SIHITE, MUNTHE, SIDABUTAR, SIMARMATA, TOBING, SIBURIAN, SITUMORANG, SIHALOHO""")
BATAK_MUSLIM_CLAN = _w("""NASUTION, LUBIS, HARAHAP, SIREGAR, HASIBUAN, RITONGA, DALIMUNTHE,
    POHAN, DAULAY, PULUNGAN, BATUBARA, RANGKUTI, PANE, MATONDANG, TANJUNG, PARINDURI""")
BALI_ORDER_M = (("I WAYAN", "I PUTU", "I GEDE"), ("I MADE", "I KADEK", "I NENGAH"),
                ("I NYOMAN", "I KOMANG"), ("I KETUT",))
BALI_ORDER_F = (("NI WAYAN", "NI PUTU", "NI LUH PUTU", "NI LUH"),
                ("NI MADE", "NI KADEK", "NI LUH MADE", "NI NENGAH"),
                ("NI NYOMAN", "NI KOMANG"), ("NI KETUT",))
BALI_NOBLE_M = _w("IDA BAGUS, I GUSTI NGURAH, ANAK AGUNG GDE, I GUSTI BAGUS, I DEWA GEDE")
BALI_NOBLE_F = _w("IDA AYU, I GUSTI AYU, ANAK AGUNG AYU, DESAK MADE, I GUSTI AGUNG AYU")
BALI_M = _w("""SUDARSANA, ARTAWAN, SUKADANA, MERTA, ADI PUTRA, SUPARTA, WIRAWAN, DARMAWAN,
    ARIMBAWA, SUARDANA, WIDIANA, ASTAWA, SUDIARTA, PARWATA, SUWITRA, ARSANA, SEDANA,
    SANTIKA, ARDANA, KARIASA, SUARNATA, ARIAWAN, SUPARWATA, BUDIARTA, WIRATA, SUKARMA,
    DARMAYASA, MAHENDRA, SUARJANA, ANDIKA PUTRA, ARYA WIGUNA, SUTAMA, PUJAWAN""")
BALI_F = _w("""AYU LESTARI, SUARNI, ARIANI, DEWI, SUKERTI, SUCIATI, WIDIASTUTI, ARTINI,
    SUKARMI, PURNAMI, ASTITI, SUARTINI, WARDANI, ARIASIH, MERTASARI, SURYANI, RAI,
    KARTIKA, SUPARTINI, ARSINI, MURTINI, SRI ARTINI, AYU WIDYASARI, PUSPA DEWI,
    SUWARNI, DEWI SUKMA, YUNI ARTINI, DIAH PRAMESTI, SRIASIH, MADE ARINI""")
BUGIS_M = _w("""BACO, BAHTIAR, SYAMSUDDIN, ARIFUDDIN, JUMADI, SAHABUDDIN, HASANUDDIN, NURDIN,
    ABD. RAHMAN, ABD. AZIS, ABD. HAMID, KAMARUDDIN, SUDIRMAN, RUSTAM, AMIRUDDIN, MAPPA,
    LATIF, IDRUS, BASO, RAHMAN, HAMZAH, ASRUL, IRFAN, ARDI, IKSAN, SYAHRIR, SULTAN,
    JAMALUDDIN, RAHMAT, HASBULLAH, ILHAM, SAMSUL, RIDWAN, MUSAKKIR, BURHANUDDIN,
    SAENAL, AMBO, LA ODE, ARFAH, MUSLIMIN, SUARDI, HERMAN, ANSAR, HAERUDDIN""")
BUGIS_F = _w("""HASNAH, HADIJAH, SITTI, NURHAEDAH, HASMAWATI, MARDIANA, NURHAYATI, RAHMATIA,
    ASNI, MURNI, ST. AMINAH, ST. HAWA, FATMAWATI, KARTINI, JUMRIANI, HAERANI, SUMARNI,
    MUSDALIFAH, NURLINA, SITTI AISYAH, SITTI RAHMA, NURHANA, SUHARNI, HASRIANI, MARWAH,
    NURMALA, SALMA, HAMSIAH, HASNIDAR, WA ODE, MASNI, RAHMAWATI, NURDIANA, ASMAWATI""")
TIONGHOA_M = _w("""BUDI, HENDRA, WILLIAM, HERMAN, ROBERT, STEVEN, KEVIN, JIMMY, JOHAN, HARTONO,
    SUGIANTO, TEDDY, FELIX, VINCENT, ANTONI, SUWANDI, HENDRIK, ALBERT, EDDY, RUDY, DANNY,
    JOHNNY, FRANKY, ERIC, RICKY, WILLY, DARWIN, SUNARDI, HARIANTO, JONATHAN, CALVIN,
    NICHOLAS, JASON, SUGIHARTO, TONY, ANDY, WENDY, HANS""")
TIONGHOA_F = _w("""LINDA, SUSANTI, MELIANA, LILY, JESSICA, MONICA, FENNY, LIANA, SELVI, LANNY,
    MEILIN, WENNY, YENNI, CINDY, VERONIKA, CHRISTINE, HELEN, LIDIA, ELIZABETH, SUSAN,
    MEILANI, LINAWATI, VIVIAN, NATALIA, CYNTHIA, SHERLY, WINDA, GRACE, MICHELLE, FELICIA,
    IRENE, LUCIA, VANESSA, AGNES, JULIANTI""")
TIONGHOA_SURNAME = _w("""WIJAYA, TANUWIJAYA, HALIM, SALIM, GUNAWAN, SUSANTO, KURNIAWAN,
    LIMANTO, HARTANTO, SUTANTO, SANTOSO, SETIADI, TANOTO, KUSUMA, WIBISONO, LIEMAN,
    TANDIONO, JAYADI, SUGIARTO, HALIMAN, TANJAYA, SETIAWAN, LIMAWAN, HARYANTO, SOEWITO,
    TANZIL, GOZALI, WINATA, HENDRAWAN, CHANDRA, HUSIN, SUTEDJA""")
CHINESE_CLAN = _w("""TAN, LIE, LIM, ONG, GO, THE, KWEE, OEI, TJHIN, TJOA, LAU, WONG, HO, CHANG,
    BONG, LIAUW, THIO, KHOE, YAP, SIE""")
CHINESE_SYL = _w("""SIONG, HOK, KIAT, LIONG, BENG, SOEN, HWA, KIM, TJOEN, LAN, MEI, NIO, HONG,
    GIOK, SWIE, KHIM, BIE, TING, JAN, PO, TJAY, HIAN, LIAN, TJIN, KOK, SIN, YONG, FA""")
TIMUR_SURNAME: dict[int, tuple[str, ...]] = {
    SUB_NTT: _w("""DA COSTA, DA SILVA, FERNANDEZ, PARERA, LEWAR, LAKA, BERE, NDOEN, TOULASIK,
        KOLO, LAY, NAHAK, TEFA, SERAN, KLAU, MANEK, NENO, MAU, NUBATONIS, BANUNAEK,
        LEUNUFNA, FOES, LEBA, BENU, TALLO, HERE, OEMATAN, DAMA, RIBERU, GOLO, DAE, LEDE,
        SOGEN, KEWA, BOLI, MANGGO, WATU, DJARA"""),
    SUB_MINAHASA: _w("""WAROUW, SUMUAL, MANDAGI, LUMENTUT, SONDAKH, RUMONDOR, KAUNANG,
        TUMBELAKA, RONDONUWU, WALANDOUW, LUMINTANG, POLII, PANGEMANAN, RUNTUKAHU, WENAS,
        KALALO, TAMBUNAN, MAMAHIT, ROTTY, KALANGI, WOLAH, LENGKONG, RUMENGAN, TUWAIDAN,
        MAMESAH, SUMAMPOW, WOROTIKAN, LONDA, TUMEWU, KANDOU"""),
    SUB_MALUKU: _w("""PATTINAMA, LATUHARHARY, TUHUMURY, SAHETAPY, PATTIASINA, LEKATOMPESSY,
        SOPLANTILA, MATULESSY, TUTUARIMA, PAPILAYA, LOPPIES, HEHANUSSA, SAPULETE,
        MANUPUTTY, SIWALETTE, TITALEY, NANLOHY, LEIWAKABESSY, RAHANTOKNAM, TAIHUTTU,
        WATTIMENA, PATTIPEILOHY, LATUMAHINA, RUMAHLATU, SAHUSILAWANE"""),
    SUB_PAPUA: _w("""WENDA, KOGOYA, WONDA, YIGIBALOM, RUMBEWAS, KAFIAR, MANDOWEN, IMBIRI,
        WOMSIWOR, RUMBIAK, SAWAKI, WAKER, TABUNI, MURIB, ENUMBI, GOBAI, PIGAI, TEBAI,
        MAGAI, DOGOPIA, YOMAN, KOSSAY, MAYOR, AWOM, KARUBABA, INDEY, ONDI, WAROMI, MANSAWAN,
        WANIMBO, TELENGGEN, ASSO, LOKBERE, DEGEI, BOSEREN, RUMAWAK, KBAREK, YEUW"""),
    SUB_DAYAK: _w("""ANYIE, LAWING, UBING, IRANG, BELAWING, LIUS, NYURAH, ASANG, KALANG, LAHAY,
        DJALUNG, LIGAU, BUNSU, UJAN, NGABUT, JALIN, TINGANG, BAHEN, UTUS, SINGA"""),
    SUB_TORAJA: _w("""PARINDING, TANDIRERUNG, PAKIDING, RANTELINO, LINGGI, PATADUNGAN, SAMPE,
        TANGDILINTIN, PALAYUKAN, TANDILINO, BATARA, SARUNGALLO, RERUNG, PASANG,
        TODING, PALIMBONG, RANTEALLO, TANGKE, BUNTU, ALLO, LAMBE, PATIUNG"""),
}
FOREIGN_M = _w("""JOHN, MICHAEL, DAVID, HIROSHI, TAKESHI, PETER, THOMAS, MARK, JAMES, PAUL,
    KENJI, MIN JUN, WEI, ANDREW, STEFAN, PIERRE, LUCAS, RAJ, AHMED, MARCO""")
FOREIGN_F = _w("""ANNA, MARIE, YUKI, SARAH, EMMA, LISA, MEI LING, SOPHIE, JULIA, AIKO,
    JI YEON, PRIYA, LAURA, CLAIRE, FATIMA, ELENA""")
FOREIGN_SURNAME = _w("""SMITH, MUELLER, TANAKA, SATO, PARK, CHEN, WANG, JOHNSON, VAN DER BERG,
    DUBOIS, ROSSI, BROWN, SCHMIDT, NAKAMURA, LEE, KUMAR, HASSAN, JANSSEN, MARTIN, WILSON""")

# Degrees as Dukcapil records them: spelling and punctuation vary between offices.
S1 = _w("""S.PD, S.PD., S.E., S.E, S.H., S.H, S.KOM, S.KOM., S.T., S.T, S.SOS, S.AG, S.KM,
    S.FARM, S.IP, S.KEP, S.P., S.SI, S.AK, S.PD.I, S.HUT""")
S2 = _w("M.M., M.M, M.PD, M.SI, M.H., M.KOM, M.T., M.AG, M.AP, M.KES, M.E.")
D3 = _w("A.MD, A.MD., A.MD.KEP, A.MD.KEB, A.MA, A.MA.PD")


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _pair(a: tuple[str, ...], b: tuple[str, ...], rnd) -> str:
    x = uniform(a, rnd)
    y = uniform(b, rnd)
    if y == x or x.endswith(y) or y.startswith(x):
        return x
    return x + " " + y


def old_spelling(name: str) -> str:
    """The pre-1972 (van Ophuijsen/Soewandi) spelling: SUPARMAN -> SOEPARMAN, JOKO -> DJOKO."""
    return (name.replace("U", "OE").replace("J", "DJ").replace("C", "TJ")
            .replace("Y", "J").replace("OEOE", "OE"))


def family_name(rng: random.Random, group: int, sub: int, religion: str) -> str:
    """A clan or family name passed from father to children; "" for traditions without."""
    rnd = rng.random
    if group == BATAK:
        return uniform(BATAK_MUSLIM_CLAN if religion == ISLAM else BATAK_CLAN, rnd)
    if group == TIMUR:
        return uniform(TIMUR_SURNAME[sub], rnd)
    if group == TIONGHOA:
        return uniform(TIONGHOA_SURNAME, rnd) if rnd() < 0.55 else ""
    return ""


def core_name(rng: random.Random, group: int, sex: int, year: int, religion: str,
              surname: str = "", order: int = 0, noble: bool = False) -> str:
    """A full name without titles or degrees.

    `surname` is the family name inherited from the father (Batak clan, eastern family
    name); `order` the birth order (0-based) that Balinese names encode.
    """
    rnd = rng.random
    f = sex == 1
    era = 0 if year < 1965 else (1 if year < 1990 else 2)
    islam = religion == ISLAM
    christian = religion in (KRISTEN, KATHOLIK)
    r = rnd()
    name: str
    if group == BALI:
        if noble:
            prefix = uniform(BALI_NOBLE_F if f else BALI_NOBLE_M, rnd)
        else:
            slots = BALI_ORDER_F if f else BALI_ORDER_M
            prefix = uniform(slots[order % 4], rnd)
            if order >= 4 and not f:
                prefix += " BALIK"
        given = uniform(BALI_F if f else BALI_M, rnd)
        return prefix + " " + given
    if group == BATAK:
        if islam:
            given = _pair(ISLAMIC_F if f else ISLAMIC_M, MODERN_F2 if f else MODERN_M2, rnd) \
                if r < 0.3 else uniform(ISLAMIC_F if f else ISLAMIC_M, rnd)
        elif era == 2 and r < 0.4:
            given = uniform(MODERN_F if f else MODERN_M, rnd)
        else:
            given = uniform(BATAK_CHR_F if f else BATAK_CHR_M, rnd)
        if not surname:
            return given
        if f and not islam and rnd() < 0.35:
            return f"{given} BR. {surname}" if rnd() < 0.8 else f"{given} BORU {surname}"
        return given + " " + surname
    if group == TIMUR:
        given = uniform(BAPTISM_F if f else BAPTISM_M, rnd)
        if era == 2 and r < 0.35:
            given = _join(given, uniform(MODERN_F if f else MODERN_M, rnd))
        return _join(given, surname)
    if group == TIONGHOA:
        if era == 0 and r < 0.45:
            return _join(uniform(CHINESE_CLAN, rnd), uniform(CHINESE_SYL, rnd),
                         uniform(CHINESE_SYL, rnd))
        given = uniform(TIONGHOA_F if f else TIONGHOA_M, rnd)
        if islam and rnd() < 0.5:
            given = uniform(ISLAMIC_F if f else ISLAMIC_M, rnd)
        return _join(given, surname) if surname else _pair(
            (given,), TIONGHOA_SURNAME if rnd() < 0.5 else (MODERN_F2 if f else MODERN_M2), rnd)

    # Muslim-majority traditions without family names: JAWA, SUNDA, MELAYU, MINANG, BUGIS.
    if group == JAWA:
        trad, second = (JAWA_F, JAWA_F2) if f else (JAWA_M, JAWA_M2)
    elif group == SUNDA:
        trad, second = (SUNDA_F, SUNDA_F2) if f else (SUNDA_M, SUNDA_M2)
    elif group == MINANG:
        trad, second = (MINANG_F, MODERN_F2) if f else (MINANG_M, MODERN_M2)
    elif group == BUGIS:
        trad, second = (BUGIS_F, ISLAMIC_F2) if f else (BUGIS_M, ISLAMIC_M2)
    else:
        trad, second = (MELAYU_F, ISLAMIC_F2) if f else (MELAYU_M, ISLAMIC_M2)
    isl, isl2 = (ISLAMIC_F, ISLAMIC_F2) if f else (ISLAMIC_M, ISLAMIC_M2)
    mod, mod2 = (MODERN_F, MODERN_F2) if f else (MODERN_M, MODERN_M2)
    if era == 0:
        if r < 0.55:
            name = uniform(trad, rnd)
        elif r < 0.8:
            name = _pair(trad, second, rnd)
        else:
            name = uniform(isl, rnd) if islam else uniform(trad, rnd)
    elif era == 1:
        if r < 0.25:
            name = uniform(trad, rnd)
        elif r < 0.6:
            name = _pair(trad, second, rnd)
        elif r < 0.78 and islam:
            name = _pair(isl, isl2 if rnd() < 0.5 else second, rnd)
        else:
            name = _pair(mod, second, rnd)
    else:
        if r < 0.45:
            name = _pair(mod, mod2, rnd)
        elif r < 0.6:
            name = _pair(mod, second, rnd)
        elif r < 0.8 and islam:
            name = _pair(isl, mod2, rnd)
        elif r < 0.9:
            name = _join(_pair(mod, mod2, rnd), uniform(mod2, rnd))
            if name.count(" ") == 2 and name.split()[1] == name.split()[2]:
                name = name.rsplit(" ", 1)[0]
        else:
            name = uniform(trad, rnd) if rnd() < 0.5 else _pair(trad, mod2, rnd)
    if era == 0 and group in (JAWA, SUNDA, MELAYU, MINANG) and rnd() < 0.45:
        name = old_spelling(name)
    if islam and not f and rnd() < (0.08, 0.14, 0.22)[era] and not name.startswith(("M", "AB")):
        name = MUHAMMAD.pick(rnd) + " " + name
    elif group == BUGIS and rnd() < 0.12:
        name = "ANDI " + name
    elif group == MELAYU and era < 2 and rnd() < 0.04:
        name = ("CUT " if f else "T. ") + name
    if christian and group in (JAWA, SUNDA, MINANG, MELAYU, BUGIS) and rnd() < 0.6:
        name = uniform(BAPTISM_F if f else BAPTISM_M, rnd) + " " + name
    return name


def foreign_name(rng: random.Random, sex: int) -> str:
    """A name for a foreign resident (KEWARGANEGARAAN WNA)."""
    rnd = rng.random
    return uniform(FOREIGN_F if sex else FOREIGN_M, rnd) + " " + uniform(FOREIGN_SURNAME, rnd)


def decorate(rng: random.Random, name: str, sex: int, age: int, year: int, religion: str,
             education: int, doctor: bool) -> str:
    """Add the honorifics and degrees Dukcapil records: H./HJ., DR., IR., DRS., S.KOM ...

    `education` is the index into schema.EDUCATION (7 = DIPLOMA IV/STRATA I, 8 = S2,
    9 = S3, 6 = DIPLOMA III).
    """
    rnd = rng.random
    prefix = ""
    suffix = ""
    if religion == ISLAM and age >= 35 and rnd() < (0.03 if age < 50 else 0.11):
        prefix = "HJ. " if sex else "H. "
    if education >= 6 and age >= 22 and rnd() < 0.55:
        if doctor:
            prefix = "DR. " + prefix
        elif education == 6:
            suffix = ", " + uniform(D3, rnd)
        elif year < 1966 and rnd() < 0.7:
            prefix = ("DRA. " if sex else ("IR. " if rnd() < 0.4 else "DRS. ")) + prefix
        else:
            suffix = ", " + uniform(S1, rnd)
        if education >= 8:
            suffix += ", " + uniform(S2, rnd)
        if education == 9:
            prefix = "DR. " + prefix
    return prefix + name + suffix
