"""The KTP-el chip emulator: answers ISO 7816-4 APDUs the way the real contactless chip does.

Commands (CLA 00, or 0C under secure messaging):

    SELECT         00 A4 00|01|02 00|04|0C  Lc FID  [Le]  FCP 62{80 size, 82 type, 83 FID}
    READ BINARY    00 B0 offset(15 bits)  Le            data; 6282 at end of file
    GET CHALLENGE  00 84 00 00 08                        RND.IC (8 bytes)
    EXTERNAL AUTHENTICATE (mutual)  00 82 00 00 28 E.IFD||M.IFD 28   E.IC||M.IC
    GET DATA (UID) FF CA 00 00 00                        the PC/SC "get UID" pseudo-APDU

Mutual authentication follows BAC (ICAO 9303) with AES: the reader (its SAM) sends
E(RND.IFD || RND.IC || K.IFD) and its MAC under the card keys; the chip checks the MAC and
its own challenge, answers E(RND.IC || RND.IFD || K.IC), and both derive the session keys
(crypto.session_keys). From then on the protected EFs are readable only with CLA 0C.
A plain command during a session ends the session, as an e-passport does; a protected
command with a bad MAC is answered with a plain 6988 and ends it too.
"""

from __future__ import annotations

import secrets

from . import apdu, layout, tlv
from .apdu import CommandAPDU, ResponseAPDU
from .crypto import (
    AUTH_CRYPTOGRAM_BYTES,
    KEY_BYTES,
    NONCE_BYTES,
    auth_cryptogram,
    open_auth_cryptogram,
    session_keys,
)
from .images import CardImage
from .sm import SmChannel, SmError

SW_NO_CURRENT_EF = 0x6986

# ISO 14443-4 card behind a PC/SC contactless reader: 3B 8n 80 01 + historical bytes + TCK.
_HISTORICAL = b"KTP-el\x01\x00"


def contactless_atr(historical: bytes) -> bytes:
    body = bytes((0x80 | len(historical), 0x80, 0x01)) + historical
    tck = 0
    for b in body:
        tck ^= b
    return b"\x3b" + body + bytes((tck,))


class ChipEmulator:
    """A KTP-el chip made from a `CardImage`; `process` takes and returns raw APDU bytes."""

    def __init__(self, image: CardImage) -> None:
        self.image = image
        self.atr = contactless_atr(_HISTORICAL)
        self.apdu_count = 0
        self.reset()

    @property
    def uid(self) -> bytes:
        return self.image.uid

    def reset(self) -> None:
        """Power-on state: MF selected, no challenge, no session."""
        self._df: int | None = layout.FID_MF
        self._ef: int | None = None
        self._challenge: bytes | None = None
        self._sm: SmChannel | None = None

    power_on = reset

    def power_off(self) -> None:
        self.reset()

    @property
    def authenticated(self) -> bool:
        return self._sm is not None

    def process(self, raw: bytes) -> bytes:
        self.apdu_count += 1
        return self.transmit(raw).to_bytes()

    def transmit(self, raw: bytes) -> ResponseAPDU:
        try:
            cmd = CommandAPDU.parse(raw)
        except apdu.ApduFormatError:
            return ResponseAPDU.status(apdu.SW_WRONG_LENGTH)
        if cmd.cla == apdu.CLA_PCSC:
            return self._pcsc(cmd)
        if cmd.cla == apdu.CLA_SM:
            if self._sm is None:
                return ResponseAPDU.status(apdu.SW_SM_INCORRECT)
            try:
                inner = self._sm.unprotect_command(cmd)
            except SmError:
                self._sm = None
                return ResponseAPDU.status(apdu.SW_SM_INCORRECT)
            return self._sm.protect_response(self._handle(inner, secure=True))
        if cmd.cla == apdu.CLA_ISO:
            self._sm = None                  # a plain command ends secure messaging
            return self._handle(cmd, secure=False)
        return ResponseAPDU.status(apdu.SW_CLA_NOT_SUPPORTED)

    def _pcsc(self, cmd: CommandAPDU) -> ResponseAPDU:
        if cmd.ins == apdu.INS_GET_DATA and cmd.p1 == 0 and cmd.p2 == 0:
            return ResponseAPDU(self.uid, apdu.SW_OK)
        return ResponseAPDU.status(apdu.SW_FUNC_NOT_SUPPORTED)

    def _handle(self, cmd: CommandAPDU, *, secure: bool) -> ResponseAPDU:
        if cmd.ins == apdu.INS_SELECT:
            return self._select(cmd)
        if cmd.ins == apdu.INS_READ_BINARY:
            return self._read_binary(cmd, secure)
        if cmd.ins == apdu.INS_GET_CHALLENGE:
            return self._get_challenge(cmd)
        if cmd.ins == apdu.INS_EXTERNAL_AUTHENTICATE:
            return self._authenticate(cmd)
        return ResponseAPDU.status(apdu.SW_INS_NOT_SUPPORTED)

    def _select(self, cmd: CommandAPDU) -> ResponseAPDU:
        if cmd.p1 not in (0x00, 0x01, 0x02) or cmd.p2 not in (0x00, 0x04, 0x0C):
            return ResponseAPDU.status(apdu.SW_INCORRECT_P1P2)
        if len(cmd.data) != 2:
            return ResponseAPDU.status(apdu.SW_WRONG_LENGTH)
        fid = int.from_bytes(cmd.data, "big")
        if fid == layout.FID_MF and cmd.p1 == 0x00:
            self._df, self._ef = layout.FID_MF, None
            fcp = self._fcp(fid, 0x38, 0)
        elif fid == layout.DF_KTP and cmd.p1 in (0x00, 0x01):
            self._df, self._ef = layout.DF_KTP, None
            fcp = self._fcp(fid, 0x38, 0)
        elif fid in self.image.files and self._df == layout.DF_KTP and cmd.p1 in (0x00, 0x02):
            self._ef = fid
            fcp = self._fcp(fid, 0x01, len(self.image.files[fid]))
        else:
            return ResponseAPDU.status(apdu.SW_FILE_NOT_FOUND)
        if cmd.p2 == 0x0C or cmd.le == 0:
            return ResponseAPDU.status(apdu.SW_OK)
        return ResponseAPDU(fcp[:cmd.le], apdu.SW_OK)

    @staticmethod
    def _fcp(fid: int, descriptor: int, size: int) -> bytes:
        body = tlv.encode(0x80, size.to_bytes(2, "big")) + tlv.encode(0x82, bytes((descriptor,)))
        return tlv.encode(0x62, body + tlv.encode(0x83, fid.to_bytes(2, "big")))

    def _read_binary(self, cmd: CommandAPDU, secure: bool) -> ResponseAPDU:
        if cmd.p1 & 0x80:                    # short EF identifier in P1: not offered
            return ResponseAPDU.status(apdu.SW_FUNC_NOT_SUPPORTED)
        if cmd.data:
            return ResponseAPDU.status(apdu.SW_WRONG_LENGTH)
        if self._ef is None:
            return ResponseAPDU.status(SW_NO_CURRENT_EF)
        if self._ef in layout.PROTECTED_EFS and not secure:
            return ResponseAPDU.status(apdu.SW_SECURITY_STATUS)
        if cmd.le == 0:
            return ResponseAPDU.status(apdu.SW_WRONG_LENGTH)
        content = self.image.files[self._ef]
        offset = cmd.p1 << 8 | cmd.p2
        if offset > len(content):
            return ResponseAPDU.status(apdu.SW_WRONG_P1P2)
        chunk = content[offset:offset + cmd.le]
        return ResponseAPDU(chunk, apdu.SW_OK if len(chunk) == cmd.le else apdu.SW_END_OF_FILE)

    def _get_challenge(self, cmd: CommandAPDU) -> ResponseAPDU:
        if cmd.p1 or cmd.p2:
            return ResponseAPDU.status(apdu.SW_WRONG_P1P2)
        if cmd.le != NONCE_BYTES or cmd.data:
            return ResponseAPDU.status(apdu.SW_WRONG_LENGTH)
        self._challenge = secrets.token_bytes(NONCE_BYTES)
        return ResponseAPDU(self._challenge, apdu.SW_OK)

    def _authenticate(self, cmd: CommandAPDU) -> ResponseAPDU:
        if cmd.p1 or cmd.p2:
            return ResponseAPDU.status(apdu.SW_WRONG_P1P2)
        if len(cmd.data) != AUTH_CRYPTOGRAM_BYTES or cmd.le not in (AUTH_CRYPTOGRAM_BYTES, 256):
            return ResponseAPDU.status(apdu.SW_WRONG_LENGTH)
        if self._df != layout.DF_KTP or self._challenge is None:
            return ResponseAPDU.status(apdu.SW_CONDITIONS)
        rnd_ic, self._challenge = self._challenge, None          # one try per challenge
        plain = open_auth_cryptogram(self.image.k_enc, self.image.k_mac, cmd.data)
        if plain is None or plain[NONCE_BYTES:2 * NONCE_BYTES] != rnd_ic:
            return ResponseAPDU.status(apdu.SW_VERIFY_FAILED)
        rnd_ifd, k_ifd = plain[:NONCE_BYTES], plain[2 * NONCE_BYTES:]
        k_ic = secrets.token_bytes(KEY_BYTES)
        answer = auth_cryptogram(self.image.k_enc, self.image.k_mac, rnd_ic + rnd_ifd + k_ic)
        self._sm = SmChannel(*session_keys(k_ifd, k_ic, rnd_ic, rnd_ifd))
        return ResponseAPDU(answer, apdu.SW_OK)
