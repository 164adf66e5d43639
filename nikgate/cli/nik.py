"""`nikgate nik check NIK`: decode a NIK or say exactly why it is invalid."""

from __future__ import annotations

import sys

from .exits import FINDING
from .output import emit_json


def register(sub) -> None:
    p = sub.add_parser("nik", help="NIK tools")
    s = p.add_subparsers(dest="nik_command", required=True, metavar="ACTION")
    c = s.add_parser("check", help="validate and decode a NIK")
    c.add_argument("nik", help="the 16-digit NIK (quote it if it has spaces)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_check)


def _check(args) -> int:
    from nikgate.engine import decode_nik
    from nikgate.errors import InvalidNikError

    try:
        parts = decode_nik(args.nik)
    except InvalidNikError as e:
        if args.json:
            emit_json({"valid": False, "reason": e.reason, "message": str(e)})
        else:
            print(f"invalid: {e} [{e.reason}]", file=sys.stderr)
        return FINDING   # the answer to "is it valid?", not a usage mistake
    dates = [d.isoformat() for d in parts.birth_date_candidates()]
    info = {
        "valid": True,
        "nik": parts.nik,
        "province": parts.province,
        "regency": parts.regency,
        "district": parts.district,
        "district_code": parts.district_code,
        "birth_date": f"{parts.birth_day:02d}-{parts.birth_month:02d}-"
                      f"{parts.birth_year_2digit:02d}",
        "birth_date_candidates": dates,
        "sex": parts.sex,
        "serial": f"{parts.serial:04d}",
    }
    if args.json:
        emit_json(info)
        return 0
    print(f"valid NIK {parts.nik}")
    print(f"  region     {parts.district_code}  {parts.district}, {parts.regency}, "
          f"{parts.province}")
    print(f"  birth date {info['birth_date']} (day-month-year; century not in the NIK: "
          f"{' or '.join(dates)})")
    print(f"  sex        {parts.sex}" + ("  (day + 40)" if parts.sex == "PEREMPUAN" else ""))
    print(f"  serial     {info['serial']}")
    return 0
