"""ISO 7816-4 APDUs: command and response APDUs (short and extended length), status words.

A command APDU is CLA INS P1 P2 [Lc data] [Le]. Short form: Lc and Le one byte each (Le 00
means 256). Extended form: Lc is 00 + two bytes, Le two bytes (00 00 means 65,536), with a
leading 00 when there is no data. `CommandAPDU.to_bytes` picks the short form whenever the
lengths fit, as readers and cards expect; `CommandAPDU.parse` reads all four ISO cases in
both forms and raises `ApduFormatError` for anything else (the card answers 6700).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# --- status words (SW1 SW2 as one int) -------------------------------------------------

SW_OK: Final = 0x9000
SW_END_OF_FILE: Final = 0x6282            # fewer than Ne bytes: end of file reached
SW_VERIFY_FAILED: Final = 0x6300          # authentication failed (no counter)
SW_VERIFY_FAILED_TRIES: Final = 0x63C0    # 63Cx: verification failed, x tries left
SW_MEMORY_FAILURE: Final = 0x6581
SW_WRONG_LENGTH: Final = 0x6700
SW_SECURITY_STATUS: Final = 0x6982        # security status not satisfied
SW_AUTH_BLOCKED: Final = 0x6983           # authentication method blocked
SW_REF_DATA_UNUSABLE: Final = 0x6984      # referenced data not usable
SW_CONDITIONS: Final = 0x6985             # conditions of use not satisfied
SW_SM_MISSING: Final = 0x6987             # expected SM data objects missing
SW_SM_INCORRECT: Final = 0x6988           # incorrect SM data objects (MAC, SSC, layout)
SW_WRONG_DATA: Final = 0x6A80             # incorrect parameters in the data field
SW_FUNC_NOT_SUPPORTED: Final = 0x6A81
SW_FILE_NOT_FOUND: Final = 0x6A82
SW_INCORRECT_P1P2: Final = 0x6A86
SW_REF_DATA_NOT_FOUND: Final = 0x6A88
SW_WRONG_P1P2: Final = 0x6B00             # wrong parameters (offset outside the EF)
SW_INS_NOT_SUPPORTED: Final = 0x6D00
SW_CLA_NOT_SUPPORTED: Final = 0x6E00
SW_UNKNOWN: Final = 0x6F00

SW_NAMES: Final = {
    SW_OK: "success",
    SW_END_OF_FILE: "end of file reached before Ne bytes",
    SW_VERIFY_FAILED: "authentication failed",
    SW_MEMORY_FAILURE: "memory failure",
    SW_WRONG_LENGTH: "wrong length",
    SW_SECURITY_STATUS: "security status not satisfied",
    SW_AUTH_BLOCKED: "authentication method blocked",
    SW_REF_DATA_UNUSABLE: "referenced data not usable",
    SW_CONDITIONS: "conditions of use not satisfied",
    SW_SM_MISSING: "expected secure messaging data objects missing",
    SW_SM_INCORRECT: "incorrect secure messaging data objects",
    SW_WRONG_DATA: "incorrect parameters in the data field",
    SW_FUNC_NOT_SUPPORTED: "function not supported",
    SW_FILE_NOT_FOUND: "file or application not found",
    SW_INCORRECT_P1P2: "incorrect parameters P1-P2",
    SW_REF_DATA_NOT_FOUND: "referenced data not found",
    SW_WRONG_P1P2: "wrong parameters P1-P2",
    SW_INS_NOT_SUPPORTED: "instruction not supported",
    SW_CLA_NOT_SUPPORTED: "class not supported",
    SW_UNKNOWN: "no precise diagnosis",
}


def sw_tries_left(tries: int) -> int:
    """63Cx: verification failed, `tries` (0-15) attempts left."""
    return SW_VERIFY_FAILED_TRIES | min(max(tries, 0), 15)


def describe_sw(sw: int) -> str:
    """`6982 security status not satisfied`; 63Cx and 61xx/6Cxx spelled out."""
    if sw & 0xFFF0 == SW_VERIFY_FAILED_TRIES:
        return f"{sw:04X} verification failed, {sw & 0x0F} tries left"
    if sw >> 8 == 0x61:
        return f"{sw:04X} {sw & 0xFF} more bytes available"
    if sw >> 8 == 0x6C:
        return f"{sw:04X} wrong Le, exact length {sw & 0xFF}"
    return f"{sw:04X} {SW_NAMES.get(sw, 'unknown status')}"


# --- instructions ------------------------------------------------------------------------

INS_VERIFY: Final = 0x20
INS_EXTERNAL_AUTHENTICATE: Final = 0x82   # used as MUTUAL AUTHENTICATE (with response data)
INS_GET_CHALLENGE: Final = 0x84
INS_SELECT: Final = 0xA4
INS_READ_BINARY: Final = 0xB0
INS_GET_DATA: Final = 0xCA               # FF CA 00 00: the PC/SC "get UID" pseudo-APDU

CLA_ISO: Final = 0x00
CLA_SM: Final = 0x0C                     # ISO 7816-4 SM, command header authenticated
CLA_PROPRIETARY: Final = 0x80
CLA_PCSC: Final = 0xFF                   # PC/SC part 3 reader pseudo-APDUs

SHORT_MAX: Final = 256
EXTENDED_MAX: Final = 65536


class ApduFormatError(ValueError):
    """Bytes that are not a well-formed command APDU (a card answers 6700)."""


@dataclass(frozen=True, slots=True)
class CommandAPDU:
    """A command APDU; `le` is Ne, the number of response bytes expected (0: none)."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int = 0

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise ValueError(f"{name} must be one byte, got {getattr(self, name)}")
        if len(self.data) > EXTENDED_MAX - 1:
            raise ValueError(f"command data too long: {len(self.data)} bytes, max 65535")
        if not 0 <= self.le <= EXTENDED_MAX:
            raise ValueError(f"Le must be 0..65536, got {self.le}")

    @property
    def extended(self) -> bool:
        """Whether the lengths need the extended form."""
        return len(self.data) > 255 or self.le > SHORT_MAX

    @property
    def header(self) -> bytes:
        return bytes((self.cla, self.ins, self.p1, self.p2))

    def to_bytes(self) -> bytes:
        out = bytearray(self.header)
        if not self.extended:
            if self.data:
                out.append(len(self.data))
                out += self.data
            if self.le:
                out.append(self.le & 0xFF)          # 256 is written as 00
            return bytes(out)
        if self.data:
            out += b"\x00" + len(self.data).to_bytes(2, "big") + self.data
            if self.le:
                out += (self.le & 0xFFFF).to_bytes(2, "big")   # 65536 is written as 0000
        else:
            out += b"\x00" + (self.le & 0xFFFF).to_bytes(2, "big")
        return bytes(out)

    @classmethod
    def parse(cls, raw: bytes) -> CommandAPDU:
        """Read any of the four ISO cases, short or extended."""
        raw = bytes(raw)
        if len(raw) < 4:
            raise ApduFormatError(f"a command APDU has at least 4 bytes, got {len(raw)}")
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        n = len(body)
        if n == 0:                                            # case 1
            return cls(cla, ins, p1, p2)
        if n == 1:                                            # case 2 short
            return cls(cla, ins, p1, p2, le=body[0] or SHORT_MAX)
        if body[0] != 0:                                      # short, Lc present
            lc = body[0]
            if n == 1 + lc:                                   # case 3 short
                return cls(cla, ins, p1, p2, body[1:])
            if n == 2 + lc:                                   # case 4 short
                return cls(cla, ins, p1, p2, body[1:1 + lc], body[-1] or SHORT_MAX)
            raise ApduFormatError(f"Lc {lc} does not match {n - 1} body bytes")
        if n == 3:                                            # case 2 extended
            return cls(cla, ins, p1, p2, le=int.from_bytes(body[1:3], "big") or EXTENDED_MAX)
        if n < 3:
            raise ApduFormatError("truncated extended length")
        lc = int.from_bytes(body[1:3], "big")
        if lc == 0:
            raise ApduFormatError("extended Lc of 0")
        if n == 3 + lc:                                       # case 3 extended
            return cls(cla, ins, p1, p2, body[3:])
        if n == 5 + lc:                                       # case 4 extended
            le = int.from_bytes(body[-2:], "big") or EXTENDED_MAX
            return cls(cla, ins, p1, p2, body[3:3 + lc], le)
        raise ApduFormatError(f"extended Lc {lc} does not match {n - 3} body bytes")

    def __repr__(self) -> str:
        return (f"CommandAPDU({self.cla:02X} {self.ins:02X} {self.p1:02X} {self.p2:02X}"
                f", {len(self.data)} data bytes, Le={self.le})")


@dataclass(frozen=True, slots=True)
class ResponseAPDU:
    """Response data and the status word."""

    data: bytes
    sw: int

    @property
    def ok(self) -> bool:
        return self.sw == SW_OK

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    def to_bytes(self) -> bytes:
        return self.data + self.sw.to_bytes(2, "big")

    @classmethod
    def parse(cls, raw: bytes) -> ResponseAPDU:
        raw = bytes(raw)
        if len(raw) < 2:
            raise ApduFormatError(f"a response APDU has at least 2 bytes, got {len(raw)}")
        return cls(raw[:-2], int.from_bytes(raw[-2:], "big"))

    @classmethod
    def status(cls, sw: int) -> ResponseAPDU:
        return cls(b"", sw)

    def __repr__(self) -> str:
        return f"ResponseAPDU({len(self.data)} bytes, {describe_sw(self.sw)})"
