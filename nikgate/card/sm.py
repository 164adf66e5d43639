"""ISO 7816-4 secure messaging: wrap and unwrap APDUs with the session keys.

Both ends hold an `SmChannel` with the same keys and send sequence counter (SSC); each
protected command and each protected response advances the SSC by one, so a replayed,
dropped or reordered APDU fails its MAC.

    command   CLA|0C INS P1 P2  Lc  [87 L 01 || E(data)] [97 L Le] 8E 08 MAC   Le=00
    response  [87 L 01 || E(data)] 99 02 SW1 SW2 8E 08 MAC   SW1 SW2

E is AES-CBC under KS_enc with IV = AES(KS_enc, SSC) over the data padded by ISO 9797-1
method 2 (the 01 is the padding-indicator byte). The command MAC covers SSC || pad(header)
|| pad(DOs before 8E); the response MAC covers SSC || pad(DO87 || DO99); both are AES-CMAC
under KS_mac truncated to 8 bytes. A side that sees a bad MAC or an unexpected data object
raises `SmError`; the card then answers a plain 6988 and forgets its session keys.
"""

from __future__ import annotations

from . import tlv
from .apdu import CLA_SM, EXTENDED_MAX, SHORT_MAX, CommandAPDU, ResponseAPDU
from .crypto import (
    BLOCK,
    cbc_decrypt,
    cbc_encrypt,
    ecb_block,
    mac8,
    mac_equal,
    pad,
    unpad,
)

DO_ENCRYPTED = 0x87
DO_LE = 0x97
DO_STATUS = 0x99
DO_MAC = 0x8E
PADDING_INDICATOR = b"\x01"
# A protected response adds at most 4 (DO87 header) + 1 (indicator) + 16 (padding)
# + 4 (DO99) + 10 (DO8E) bytes; larger plain replies need the extended Le.
SM_OVERHEAD = 35


class SmError(Exception):
    """A protected APDU failed its MAC or has the wrong data objects."""


class SmChannel:
    """One end of a secure-messaging session (the chip's, or the SAM's for the host)."""

    __slots__ = ("_enc", "_mac", "ssc")

    def __init__(self, ks_enc: bytes, ks_mac: bytes, ssc: int) -> None:
        self._enc = ks_enc
        self._mac = ks_mac
        self.ssc = ssc

    def _step(self) -> bytes:
        self.ssc = (self.ssc + 1) % (1 << (8 * BLOCK))
        return self.ssc.to_bytes(BLOCK, "big")

    def _encrypt(self, ssc: bytes, data: bytes) -> bytes:
        return cbc_encrypt(self._enc, ecb_block(self._enc, ssc), pad(data))

    def _decrypt(self, ssc: bytes, value: bytes) -> bytes:
        if value[:1] != PADDING_INDICATOR:
            raise SmError("DO 87 without the padding indicator 01")
        try:
            return unpad(cbc_decrypt(self._enc, ecb_block(self._enc, ssc), value[1:]))
        except ValueError as e:
            raise SmError(f"DO 87 does not decrypt: {e}") from None

    # --- host (SAM) side ---------------------------------------------------------------

    def protect_command(self, cmd: CommandAPDU) -> CommandAPDU:
        ssc = self._step()
        cla = cmd.cla | CLA_SM
        header = bytes((cla, cmd.ins, cmd.p1, cmd.p2))
        dos = b""
        if cmd.data:
            dos += tlv.encode(DO_ENCRYPTED, PADDING_INDICATOR + self._encrypt(ssc, cmd.data))
        if cmd.le:
            ne = (cmd.le & 0xFF).to_bytes(1, "big") if cmd.le <= SHORT_MAX else \
                (cmd.le & 0xFFFF).to_bytes(2, "big")
            dos += tlv.encode(DO_LE, ne)
        mac_input = ssc + pad(header) + (pad(dos) if dos else b"")
        dos += tlv.encode(DO_MAC, mac8(self._mac, mac_input))
        le = SHORT_MAX if cmd.le + SM_OVERHEAD <= SHORT_MAX else EXTENDED_MAX
        return CommandAPDU(cla, cmd.ins, cmd.p1, cmd.p2, dos, le)

    def unprotect_response(self, resp: ResponseAPDU) -> ResponseAPDU:
        ssc = self._step()
        if not resp.data:
            raise SmError(f"the card answered {resp.sw:04X} without secure messaging")
        try:
            items = list(tlv.iter_tlv(resp.data))
        except tlv.TlvError as e:
            raise SmError(f"protected response is not TLV: {e}") from None
        tags = [t for t, _ in items]
        if tags not in ([DO_STATUS, DO_MAC], [DO_ENCRYPTED, DO_STATUS, DO_MAC]):
            raise SmError(f"unexpected data objects in the response: {tags}")
        covered = resp.data[:len(resp.data) - 2 - len(items[-1][1])]
        if not mac_equal(mac8(self._mac, ssc + pad(covered)), items[-1][1]):
            raise SmError("response MAC is wrong")
        values = dict(items)
        status = values[DO_STATUS]
        if len(status) != 2:
            raise SmError("DO 99 must hold two bytes")
        sw = int.from_bytes(status, "big")
        if sw != resp.sw:
            raise SmError(f"protected status {sw:04X} differs from the trailer {resp.sw:04X}")
        data = self._decrypt(ssc, values[DO_ENCRYPTED]) if DO_ENCRYPTED in values else b""
        return ResponseAPDU(data, sw)

    # --- card side ---------------------------------------------------------------------

    def unprotect_command(self, cmd: CommandAPDU) -> CommandAPDU:
        ssc = self._step()
        if cmd.cla & CLA_SM != CLA_SM:
            raise SmError("command without secure messaging")
        try:
            items = list(tlv.iter_tlv(cmd.data))
        except tlv.TlvError as e:
            raise SmError(f"protected command is not TLV: {e}") from None
        tags = [t for t, _ in items]
        if not tags or tags[-1] != DO_MAC or len(set(tags)) != len(tags) or \
                not set(tags[:-1]) <= {DO_ENCRYPTED, DO_LE} or \
                (DO_ENCRYPTED in tags and DO_LE in tags and tags[0] != DO_ENCRYPTED):
            raise SmError(f"unexpected data objects in the command: {tags}")
        covered = cmd.data[:len(cmd.data) - 2 - len(items[-1][1])]
        mac_input = ssc + pad(cmd.header) + (pad(covered) if covered else b"")
        if not mac_equal(mac8(self._mac, mac_input), items[-1][1]):
            raise SmError("command MAC is wrong")
        values = dict(items)
        data = self._decrypt(ssc, values[DO_ENCRYPTED]) if DO_ENCRYPTED in values else b""
        le = 0
        if DO_LE in values:
            raw = values[DO_LE]
            if len(raw) == 1:
                le = raw[0] or SHORT_MAX
            elif len(raw) == 2:
                le = int.from_bytes(raw, "big") or EXTENDED_MAX
            else:
                raise SmError("DO 97 must hold one or two bytes")
        return CommandAPDU(cmd.cla & ~CLA_SM & 0xFF, cmd.ins, cmd.p1, cmd.p2, data, le)

    def protect_response(self, resp: ResponseAPDU) -> ResponseAPDU:
        ssc = self._step()
        dos = b""
        if resp.data:
            dos += tlv.encode(DO_ENCRYPTED, PADDING_INDICATOR + self._encrypt(ssc, resp.data))
        dos += tlv.encode(DO_STATUS, resp.sw.to_bytes(2, "big"))
        dos += tlv.encode(DO_MAC, mac8(self._mac, ssc + pad(dos)))
        return ResponseAPDU(dos, resp.sw)
