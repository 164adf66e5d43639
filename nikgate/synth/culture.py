"""Naming traditions and religions by province: which household gets which name style.

Shares are rough, invented for plausibility (Java mostly Javanese/Sundanese and Muslim,
Bali mostly Balinese Hindu, NTT mostly Catholic, North Sumatra Batak with many
Protestants, Papua mostly Protestant); they are not census figures.
"""

from __future__ import annotations

import functools

from nikgate.engine import schema

from .pick import Weighted

# Naming traditions ("groups"); names.py has one pool set per group.
JAWA, SUNDA, MELAYU, MINANG, BATAK, BALI, BUGIS, TIONGHOA, TIMUR = range(9)

# TIMUR (eastern Christian naming: baptismal given name + family name) has regional
# family-name pools; the sub-pool is chosen by province.
SUB_NTT, SUB_MINAHASA, SUB_MALUKU, SUB_PAPUA, SUB_DAYAK, SUB_TORAJA = range(6)

ISLAM, KRISTEN, KATHOLIK, HINDU, BUDHA, KONGHUCU, KEPERCAYAAN = schema.RELIGION

_J, _S, _M, _MI, _B, _BA, _BU, _T, _TI = range(9)
PROVINCE_GROUPS: dict[int, dict[int, float]] = {
    11: {_M: 90, _J: 7, _B: 2, _T: 1},
    12: {_B: 44, _J: 30, _M: 20, _T: 4, _TI: 2},
    13: {_MI: 88, _J: 5, _B: 5, _M: 2},
    14: {_M: 45, _J: 25, _MI: 12, _B: 12, _T: 4, _S: 2},
    15: {_M: 52, _J: 30, _MI: 8, _B: 5, _T: 3, _S: 2},
    16: {_M: 65, _J: 28, _S: 3, _T: 2, _MI: 2},
    17: {_M: 60, _J: 25, _S: 8, _MI: 7},
    18: {_J: 60, _M: 20, _S: 12, _MI: 4, _BA: 2, _T: 2},
    19: {_M: 68, _T: 25, _J: 5, _BU: 2},
    21: {_M: 35, _J: 25, _B: 12, _MI: 10, _T: 10, _TI: 5, _BU: 3},
    31: {_J: 38, _S: 16, _M: 21, _T: 7, _B: 5, _MI: 6, _BU: 2, _TI: 5},
    32: {_S: 75, _J: 19, _M: 3, _T: 1, _B: 1, _MI: 1},
    33: {_J: 97, _T: 1.5, _S: 1.5},
    34: {_J: 95, _T: 2, _TI: 2, _S: 1},
    35: {_J: 88, _M: 9, _T: 2, _BU: 1},
    36: {_S: 52, _J: 25, _M: 17, _T: 4, _B: 2},
    51: {_BA: 86, _J: 10, _M: 2, _T: 1, _TI: 1},
    52: {_M: 88, _BA: 5, _J: 3, _BU: 4},
    53: {_TI: 86, _M: 7, _BU: 3, _J: 2, _T: 2},
    61: {_M: 36, _TI: 30, _T: 10, _J: 14, _BU: 6, _S: 4},
    62: {_TI: 30, _M: 32, _J: 25, _BU: 6, _S: 5, _BA: 2},
    63: {_M: 76, _J: 15, _BU: 6, _S: 3},
    64: {_J: 30, _BU: 26, _M: 26, _TI: 12, _T: 3, _S: 3},
    65: {_BU: 30, _TI: 30, _J: 20, _M: 20},
    71: {_TI: 70, _M: 20, _BU: 5, _T: 3, _J: 2},
    72: {_BU: 45, _M: 20, _TI: 22, _J: 10, _BA: 3},
    73: {_BU: 86, _TI: 9, _J: 3, _T: 2},
    74: {_BU: 70, _M: 15, _J: 10, _BA: 3, _TI: 2},
    75: {_M: 86, _BU: 10, _J: 4},
    76: {_BU: 80, _TI: 15, _J: 5},
    81: {_TI: 50, _M: 40, _BU: 7, _J: 3},
    82: {_M: 70, _TI: 20, _BU: 7, _J: 3},
    91: {_TI: 74, _J: 12, _BU: 10, _M: 4},
    92: {_TI: 72, _J: 14, _BU: 10, _M: 4},
    93: {_TI: 70, _J: 18, _BU: 8, _M: 4},
    94: {_TI: 82, _J: 8, _BU: 8, _M: 2},
    95: {_TI: 94, _J: 3, _BU: 3},
    96: {_TI: 70, _J: 14, _BU: 12, _M: 4},
}


def timur_subpool(province: int) -> int:
    """Which regional family-name pool eastern Christian names draw from."""
    if province == 53:
        return SUB_NTT
    if province in (71, 75):
        return SUB_MINAHASA
    if province in (81, 82):
        return SUB_MALUKU
    if province >= 91:
        return SUB_PAPUA
    if 61 <= province <= 65:
        return SUB_DAYAK
    if 72 <= province <= 76:
        return SUB_TORAJA
    return (SUB_MINAHASA, SUB_NTT, SUB_MALUKU)[province % 3]


_RELIGION_BY_GROUP: dict[int, dict[str, float]] = {
    JAWA: {ISLAM: 94.5, KRISTEN: 2.8, KATHOLIK: 2.2, BUDHA: 0.2, KEPERCAYAAN: 0.3},
    SUNDA: {ISLAM: 98.5, KRISTEN: 1.0, KATHOLIK: 0.4, KEPERCAYAAN: 0.1},
    MELAYU: {ISLAM: 99.0, KRISTEN: 0.6, KATHOLIK: 0.4},
    MINANG: {ISLAM: 99.6, KRISTEN: 0.4},
    BATAK: {KRISTEN: 55, KATHOLIK: 12, ISLAM: 33},
    BALI: {HINDU: 96.5, ISLAM: 1.2, KRISTEN: 1.0, KATHOLIK: 0.8, BUDHA: 0.5},
    BUGIS: {ISLAM: 97.5, KRISTEN: 2.0, KATHOLIK: 0.5},
    TIONGHOA: {BUDHA: 42, KRISTEN: 26, KATHOLIK: 15, KONGHUCU: 9, ISLAM: 8},
}
_RELIGION_TIMUR: dict[int, dict[str, float]] = {
    SUB_NTT: {KATHOLIK: 72, KRISTEN: 27, KEPERCAYAAN: 1},
    SUB_MINAHASA: {KRISTEN: 86, KATHOLIK: 13, ISLAM: 1},
    SUB_MALUKU: {KRISTEN: 88, KATHOLIK: 12},
    SUB_PAPUA: {KRISTEN: 74, KATHOLIK: 25, KEPERCAYAAN: 1},
    SUB_DAYAK: {KATHOLIK: 50, KRISTEN: 44, KEPERCAYAAN: 6},
    SUB_TORAJA: {KRISTEN: 84, KATHOLIK: 14, KEPERCAYAAN: 2},
}


@functools.cache
def group_table(province: int) -> Weighted[int]:
    """Weighted naming tradition of a household in this province."""
    return Weighted(list(PROVINCE_GROUPS.get(province, {JAWA: 1}).items()))


@functools.cache
def religion_table(group: int, sub: int) -> Weighted[str]:
    """Weighted AGAMA of a household of this naming tradition."""
    shares = _RELIGION_TIMUR[sub] if group == TIMUR else _RELIGION_BY_GROUP[group]
    return Weighted(list(shares.items()))
