"""The host side of a card read: what the teller's thin client runs between SAM and chip.

    with SamSession(open_reader("pcsc:SAM reader")) as sam:
        sam.unlock(secret)                       # SamSecretWrong(tries_left) / SamLocked
        readout = read_card(open_reader("pcsc:card reader"), sam)
        mac = sam.sign_readout(challenge, digest_of({...}))   # for CardVerify

`read_card` does what the real reader software does: UID, SELECT DF 7F0A, card control
(plain), GET CHALLENGE, mutual authentication computed by the SAM, then every EF over
secure messaging (the SAM wraps each command and unwraps each reply), in chunks, and the
document signature checked inside the SAM. It returns a complete `Readout` or raises:
CardAuthenticationFailed (a clone), DocumentSignatureInvalid (altered data), CardRemoved
(no partial result), SecureMessagingError, CardStatusError, SamError.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from nikgate.errors import (
    CardAuthenticationFailed,
    CardRemoved,
    CardStatusError,
    DocumentSignatureInvalid,
    SamError,
    SamLocked,
    SamSecretWrong,
    SecureMessagingError,
)

from . import apdu, layout, tlv
from .apdu import CommandAPDU, ResponseAPDU
from .reader import Reader, exchange
from .readout import biodata_digest
from .sam import (
    INS_AUTHENTICATE_CARD,
    INS_SIGN_READOUT,
    INS_UNWRAP,
    INS_VERIFY_SIGNATURE,
    INS_WRAP,
    P2_SAM_SECRET,
    TAG_CHALLENGE,
    TAG_DIGEST,
    TAG_INSTITUTION,
    TAG_KEY_VERSION,
    TAG_PUBLIC_KEY,
    TAG_RND_IC,
    TAG_SAM_ID,
    TAG_TRIES_LEFT,
    TAG_UID,
)

READ_CHUNK = 128            # plain bytes per READ BINARY; max 221 with short APDUs
_CLA = apdu.CLA_PROPRIETARY


@dataclass(frozen=True)
class SamInfo:
    sam_id: str
    institution_id: str
    public_key_point: bytes        # X9.62 uncompressed P-256 point of the readout key
    tries_left: int
    key_version: int


class SamSession:
    """The SAM in its slot, driven by APDUs (the master key never leaves it)."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self._connected = False
        self.info: SamInfo | None = None

    def __enter__(self) -> SamSession:
        self.connect()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def connect(self) -> SamInfo:
        if not self._connected:
            self.reader.connect()
            self._connected = True
        self.info = self.get_info()
        return self.info

    def close(self) -> None:
        if self._connected:
            self._connected = False
            self.reader.disconnect()

    def _send(self, cmd: CommandAPDU) -> ResponseAPDU:
        try:
            return exchange(self.reader, cmd)
        except CardRemoved:
            raise CardRemoved("the SAM was removed or lost power; nothing was kept: put the "
                              "SAM back, restart the reader and read the card again") from None

    def _expect_ok(self, cmd: CommandAPDU, what: str) -> ResponseAPDU:
        resp = self._send(cmd)
        if resp.sw == apdu.SW_AUTH_BLOCKED:
            raise SamLocked()
        if resp.sw == apdu.SW_SECURITY_STATUS:
            raise SamError("the SAM is locked by its secret: unlock it first")
        if not resp.ok:
            raise CardStatusError(f"the SAM refused {what}", sw=resp.sw, command=what)
        return resp

    def get_info(self) -> SamInfo:
        resp = self._expect_ok(CommandAPDU(_CLA, apdu.INS_GET_DATA, 0, 0, le=256), "GET DATA")
        try:
            items = tlv.parse(resp.data)
            return SamInfo(items[TAG_SAM_ID].decode(), items[TAG_INSTITUTION].decode(),
                           items[TAG_PUBLIC_KEY], items[TAG_TRIES_LEFT][0],
                           items[TAG_KEY_VERSION][0])
        except (tlv.TlvError, KeyError, IndexError, UnicodeDecodeError) as e:
            raise SamError(f"the SAM's GET DATA answer is malformed ({e!r}); is this a "
                           "nikgate SAM?") from None

    def unlock(self, secret: str) -> SamInfo:
        """VERIFY the secret; SamSecretWrong (tries left) or SamLocked when refused."""
        info = self.info or self.connect()
        if info.tries_left == 0:
            raise SamLocked()
        resp = self._send(CommandAPDU(apdu.CLA_ISO, apdu.INS_VERIFY, 0, P2_SAM_SECRET,
                                      secret.encode("utf-8")))
        if resp.sw == apdu.SW_AUTH_BLOCKED:
            raise SamLocked()
        if resp.sw & 0xFFF0 == apdu.SW_VERIFY_FAILED_TRIES:
            raise SamSecretWrong(resp.sw & 0x0F)
        if not resp.ok:
            raise CardStatusError("the SAM refused the secret", sw=resp.sw, command="VERIFY")
        self.info = self.get_info()
        return self.info

    # --- the steps read_card uses -------------------------------------------------------

    def begin_card(self, uid: bytes, rnd_ic: bytes, key_version: int) -> bytes:
        data = (tlv.encode(TAG_UID, uid) + tlv.encode(TAG_RND_IC, rnd_ic)
                + tlv.encode(0x81, bytes((key_version,))))
        resp = self._send(CommandAPDU(_CLA, INS_AUTHENTICATE_CARD, 1, 0, data, 256))
        if resp.sw == apdu.SW_REF_DATA_NOT_FOUND:
            raise SamError(f"the SAM has no master key of version {key_version} for this "
                           "card; ask Dukcapil for an updated SAM")
        if resp.sw in (apdu.SW_SECURITY_STATUS, apdu.SW_AUTH_BLOCKED) or not resp.ok:
            self._raise(resp, "AUTHENTICATE CARD")
        return resp.data

    def finish_card(self, answer: bytes) -> None:
        resp = self._send(CommandAPDU(_CLA, INS_AUTHENTICATE_CARD, 2, 0, answer))
        if resp.sw == apdu.SW_VERIFY_FAILED:
            raise CardAuthenticationFailed()
        if not resp.ok:
            self._raise(resp, "AUTHENTICATE CARD")

    def wrap(self, cmd: CommandAPDU) -> CommandAPDU:
        resp = self._send(CommandAPDU(_CLA, INS_WRAP, 0, 0, cmd.to_bytes(), 256))
        if not resp.ok:
            self._raise(resp, "WRAP")
        return CommandAPDU.parse(resp.data)

    def unwrap(self, protected: ResponseAPDU) -> ResponseAPDU:
        le = 256 if len(protected.data) < 250 else 65536
        resp = self._send(CommandAPDU(_CLA, INS_UNWRAP, 0, 0, protected.to_bytes(), le))
        if resp.sw == apdu.SW_SM_INCORRECT:
            raise SecureMessagingError("a reply from the card failed its secure-messaging "
                                       "check (MAC): the read was disturbed or tampered "
                                       "with; read the card again")
        if not resp.ok:
            self._raise(resp, "UNWRAP")
        return ResponseAPDU.parse(resp.data)

    def verify_document_signature(self) -> bool:
        resp = self._send(CommandAPDU(_CLA, INS_VERIFY_SIGNATURE, 0, 0))
        if resp.sw == apdu.SW_VERIFY_FAILED:
            return False
        if not resp.ok:
            self._raise(resp, "VERIFY DOCUMENT SIGNATURE")
        return True

    def sign_readout(self, challenge: bytes, readout_digest: bytes) -> bytes:
        """The SAM's ECDSA signature over the readout (see readout.signed_message)."""
        data = tlv.encode(TAG_CHALLENGE, challenge) + tlv.encode(TAG_DIGEST, readout_digest)
        resp = self._send(CommandAPDU(_CLA, INS_SIGN_READOUT, 0, 0, data, 256))
        if resp.sw == apdu.SW_CONDITIONS:
            raise SamError("the SAM signs a readout only after it has read a card and "
                           "verified its document signature in this session")
        if resp.sw == apdu.SW_WRONG_DATA:
            raise SamError("the challenge must be 16-64 bytes and the digest 32 bytes")
        if not resp.ok:
            self._raise(resp, "SIGN READOUT")
        return resp.data

    def _raise(self, resp: ResponseAPDU, what: str) -> None:
        if resp.sw == apdu.SW_AUTH_BLOCKED:
            raise SamLocked()
        if resp.sw == apdu.SW_SECURITY_STATUS:
            raise SamError("the SAM is locked by its secret: unlock it first")
        raise CardStatusError(f"the SAM refused {what}", sw=resp.sw, command=what)


@dataclass(frozen=True, repr=False)
class Readout:
    """A complete, signature-checked read of one KTP-el. Template bytes are in `templates`
    but never in repr or `summary()`."""

    uid: bytes
    sam_id: str
    key_version: int
    issued: str
    biodata: Mapping[str, str]
    biodata_raw: bytes              # EF 6FF1 as read (the SAM hashed these bytes)
    photo: bytes
    signature_image: bytes
    templates: Mapping[str, bytes]  # "right_index", "left_index"
    signature_ok: bool

    @property
    def nik(self) -> str:
        return self.biodata["NIK"]

    @property
    def uid_hex(self) -> str:
        return self.uid.hex().upper()

    @property
    def biodata_digest(self) -> bytes:
        return biodata_digest(self.biodata_raw)

    def summary(self) -> dict[str, Any]:
        """Printable: biodata, UID and sizes, never template values."""
        return {"uid": self.uid_hex, "sam_id": self.sam_id, "issued": self.issued,
                "signature_ok": self.signature_ok, "biodata": dict(self.biodata),
                "photo_bytes": len(self.photo), "signature_image_bytes":
                len(self.signature_image),
                "templates": {k: f"{len(v)} bytes" for k, v in self.templates.items()}}

    def __repr__(self) -> str:
        return (f"Readout(uid={self.uid_hex}, nik={self.nik}, sam={self.sam_id}, "
                f"signature_ok={self.signature_ok}, templates={sorted(self.templates)})")


class _Card:
    """The chip side of one read: plain and secure exchanges with status checks."""

    def __init__(self, reader: Reader, sam: SamSession) -> None:
        self.reader = reader
        self.sam = sam

    def plain(self, cmd: CommandAPDU) -> ResponseAPDU:
        return exchange(self.reader, cmd)

    def secure(self, cmd: CommandAPDU) -> ResponseAPDU:
        protected = self.sam.wrap(cmd)
        resp = exchange(self.reader, protected)
        if not resp.data and resp.sw in (apdu.SW_SM_INCORRECT, apdu.SW_SM_MISSING):
            raise SecureMessagingError("the card rejected a protected command "
                                       f"({apdu.describe_sw(resp.sw)}); read the card again")
        return self.sam.unwrap(resp)

    def select(self, fid: int, *, secure: bool) -> int:
        cmd = CommandAPDU(apdu.CLA_ISO, apdu.INS_SELECT, 0x00 if fid == layout.DF_KTP
                          else 0x02, 0x04, fid.to_bytes(2, "big"), 256)
        resp = self.secure(cmd) if secure else self.plain(cmd)
        if resp.sw == apdu.SW_FILE_NOT_FOUND:
            what = ("the KTP-el application (DF 7F0A)" if fid == layout.DF_KTP
                    else f"EF {fid:04X} ({layout.EF_NAMES.get(fid, '?')})")
            raise CardStatusError(f"the card has no {what}: it is not a KTP-el or is damaged",
                                  sw=resp.sw, command="SELECT")
        if not resp.ok:
            raise CardStatusError(f"SELECT {fid:04X} failed", sw=resp.sw, command="SELECT")
        try:
            return int.from_bytes(tlv.parse(tlv.parse(resp.data)[0x62]).get(0x80, b""), "big")
        except (tlv.TlvError, KeyError):
            raise CardStatusError(f"SELECT {fid:04X} answered no file control parameters",
                                  sw=resp.sw, command="SELECT") from None

    def read_file(self, fid: int, *, secure: bool, chunk: int) -> bytes:
        size = self.select(fid, secure=secure)
        out = bytearray()
        while len(out) < size:
            n = min(chunk, size - len(out))
            cmd = CommandAPDU(apdu.CLA_ISO, apdu.INS_READ_BINARY, len(out) >> 8,
                              len(out) & 0xFF, le=n)
            resp = self.secure(cmd) if secure else self.plain(cmd)
            if resp.sw == apdu.SW_SECURITY_STATUS:
                raise CardStatusError(f"EF {fid:04X} is readable only after authentication",
                                      sw=resp.sw, command="READ BINARY")
            if resp.sw not in (apdu.SW_OK, apdu.SW_END_OF_FILE) or not resp.data:
                raise CardStatusError(f"READ BINARY of EF {fid:04X} at offset {len(out)} "
                                      "failed", sw=resp.sw, command="READ BINARY")
            out += resp.data
        return bytes(out)


def read_card(card_reader: Reader, sam: SamSession, *, chunk: int = READ_CHUNK) -> Readout:
    """Read and check a KTP-el through an unlocked SAM; all or nothing (module docstring)."""
    if not 1 <= chunk <= 221:
        raise ValueError("chunk must be 1..221 bytes (short APDUs under secure messaging)")
    if sam.info is None:
        sam.connect()
    assert sam.info is not None
    card_reader.connect()
    try:
        card = _Card(card_reader, sam)
        resp = card.plain(CommandAPDU(apdu.CLA_PCSC, apdu.INS_GET_DATA, 0, 0, le=256))
        if not resp.ok or not resp.data:
            raise CardStatusError("the reader could not give the card's UID", sw=resp.sw,
                                  command="GET DATA UID")
        uid = resp.data
        card.select(layout.DF_KTP, secure=False)
        try:
            control = layout.decode_card_control(
                card.read_file(layout.EF_CARD_CONTROL, secure=False, chunk=chunk))
        except layout.LayoutError as e:
            raise CardStatusError(f"the card-control file is unreadable: {e}", sw=apdu.SW_OK,
                                  command="READ BINARY") from None
        if control.uid != uid:
            raise CardAuthenticationFailed("the card's control file names another chip UID: "
                                           "the data were copied from another card; do not "
                                           "accept it")
        resp = card.plain(CommandAPDU(apdu.CLA_ISO, apdu.INS_GET_CHALLENGE, 0, 0, le=8))
        if not resp.ok or len(resp.data) != 8:
            raise CardStatusError("GET CHALLENGE failed", sw=resp.sw, command="GET CHALLENGE")
        key_version = control.key_version
        cryptogram = sam.begin_card(uid, resp.data, key_version)
        resp = card.plain(CommandAPDU(apdu.CLA_ISO, apdu.INS_EXTERNAL_AUTHENTICATE, 0, 0,
                                      cryptogram, len(cryptogram)))
        if resp.sw == apdu.SW_VERIFY_FAILED:
            raise CardAuthenticationFailed()
        if not resp.ok:
            raise CardStatusError("mutual authentication failed", sw=resp.sw,
                                  command="EXTERNAL AUTHENTICATE")
        sam.finish_card(resp.data)
        files = {fid: card.read_file(fid, secure=True, chunk=chunk)
                 for fid in layout.PROTECTED_EFS}
        if not sam.verify_document_signature():
            raise DocumentSignatureInvalid()
        try:
            biodata = layout.decode_biodata(files[layout.EF_BIODATA])
        except layout.LayoutError as e:       # signed but unreadable: a personalisation bug
            raise CardStatusError(f"the biodata file is unreadable: {e}", sw=apdu.SW_OK,
                                  command="READ BINARY") from None
        return Readout(
            uid=uid, sam_id=sam.info.sam_id, key_version=key_version,
            issued=control.issued, biodata=biodata,
            biodata_raw=files[layout.EF_BIODATA], photo=files[layout.EF_PHOTO],
            signature_image=files[layout.EF_SIGNATURE_IMAGE],
            templates={finger: files[fid] for finger, fid in layout.FINGER_EFS.items()},
            signature_ok=True)
    finally:
        try:
            card_reader.disconnect()
        except CardRemoved:
            pass
