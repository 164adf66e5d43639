"""The SAM emulator: the reader's secure access module, holding the keys the PC never sees.

Commands (CLA 80 proprietary unless noted; all but GET DATA and VERIFY need the SAM unlocked,
6982 otherwise):

    GET DATA         80 CA 00 00 00     TLV C1 SAM id, C2 institution, C3 readout public key
                                        (X9.62 uncompressed), C4 tries left, C5 key version
    VERIFY           00 20 00 81 Lc secret      9000 | 63Cx (x tries left) | 6983 blocked
                     00 20 00 81 (no data)      9000 if unlocked, else 63Cx / 6983
    AUTHENTICATE     80 A0 01 00 Lc 5A UID 84 RND.IC 81 key version   Le  E.IFD||M.IFD
      CARD           80 A0 02 00 Lc E.IC||M.IC      9000 session open | 6300 not genuine
    WRAP             80 A2 00 00 Lc plain command   Le  protected command
    UNWRAP           80 A4 00 00 Lc protected response (data||SW)  Le  plain response
    VERIFY DOCUMENT  80 A6 00 00            9000 signature good | 6300 bad | 6985 not read
      SIGNATURE
    SIGN READOUT     80 A8 00 00 Lc 81 challenge 82 readout digest  Le  ECDSA (DER)

The master key and the session keys stay inside: the host shuttles APDUs between SAM and
chip, asking the SAM to wrap each command and unwrap each reply. While unwrapping, the SAM
hashes (SHA-256, in order) what it unwraps from EF 6FF1-6FF6, so VERIFY DOCUMENT SIGNATURE
checks what came from the authenticated chip, not bytes the PC supplies, and SIGN READOUT
signs the UID and biodata hash it saw itself (readout.py defines the signed message).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from . import apdu, layout, readout, tlv
from .apdu import CommandAPDU, ResponseAPDU
from .chip import contactless_atr
from .crypto import (
    AUTH_CRYPTOGRAM_BYTES,
    KEY_BYTES,
    NONCE_BYTES,
    auth_cryptogram,
    card_keys,
    open_auth_cryptogram,
    session_keys,
)
from .images import SamImage
from .sm import SmChannel, SmError

INS_AUTHENTICATE_CARD = 0xA0
INS_WRAP = 0xA2
INS_UNWRAP = 0xA4
INS_VERIFY_SIGNATURE = 0xA6
INS_SIGN_READOUT = 0xA8
P2_SAM_SECRET = 0x81

TAG_SAM_ID = 0xC1
TAG_INSTITUTION = 0xC2
TAG_PUBLIC_KEY = 0xC3
TAG_TRIES_LEFT = 0xC4
TAG_KEY_VERSION = 0xC5
TAG_UID = 0x5A
TAG_RND_IC = 0x84
TAG_CHALLENGE = 0x81
TAG_DIGEST = 0x82
MAX_SECRET_BYTES = 64
MAX_CHALLENGE_BYTES = 64
MAX_KEPT_BYTES = 512            # the most of EF 6FF6 the SAM keeps (a signature is ~90)

_HISTORICAL = b"NIKSAM\x01\x00"


@dataclass
class _FileHash:
    """The running SHA-256 of one EF as the SAM unwraps it, in order."""

    size: int
    read: int = 0
    digest: Any = field(default_factory=hashlib.sha256)
    broken: bool = False            # read out of order: cannot be vouched for
    content: bytearray | None = None    # kept only for EF 6FF6 (small), to verify it

    @property
    def complete(self) -> bool:
        return not self.broken and self.read == self.size


@dataclass
class _CardSession:
    uid: bytes
    k_enc: bytes
    k_mac: bytes
    rnd_ifd: bytes
    k_ifd: bytes
    rnd_ic: bytes
    sm: SmChannel | None = None
    pending: tuple[str, int, int] | None = None   # ("select", fid, 0) | ("read", fid, off)
    current_ef: int | None = None
    files: dict[int, _FileHash] = field(default_factory=dict)
    signature_ok: bool = False
    biodata_digest: bytes = b""


class SamEmulator:
    """A SAM made from a `SamImage`; `store` is called with the image when its counter
    changes (SimReader and the vpcd server pass one that saves sam.json)."""

    def __init__(self, image: SamImage,
                 store: Callable[[SamImage], None] | None = None) -> None:
        self.image = image
        self._store = store
        self.atr = contactless_atr(_HISTORICAL)
        self.apdu_count = 0
        signer = serialization.load_der_public_key(image.doc_signer_public_der)
        if not isinstance(signer, ec.EllipticCurvePublicKey):
            raise ValueError("the SAM image's document-signer key is not an EC key")
        self._doc_signer = signer
        self._doc_signer_id = layout.signer_key_id(image.doc_signer_public_der)
        self._signing_key = image.signing_key()
        self.reset()

    def reset(self) -> None:
        """Power-on: locked again, no card session."""
        self._unlocked = False
        self._card: _CardSession | None = None

    power_on = reset

    def power_off(self) -> None:
        self.reset()

    def process(self, raw: bytes) -> bytes:
        self.apdu_count += 1
        return self.transmit(raw).to_bytes()

    def transmit(self, raw: bytes) -> ResponseAPDU:
        try:
            cmd = CommandAPDU.parse(raw)
        except apdu.ApduFormatError:
            return ResponseAPDU.status(apdu.SW_WRONG_LENGTH)
        if cmd.cla == apdu.CLA_ISO:
            if cmd.ins == apdu.INS_VERIFY:
                return self._verify(cmd)
            return ResponseAPDU.status(apdu.SW_INS_NOT_SUPPORTED)
        if cmd.cla != apdu.CLA_PROPRIETARY:
            return ResponseAPDU.status(apdu.SW_CLA_NOT_SUPPORTED)
        if cmd.ins == apdu.INS_GET_DATA:
            return self._get_data(cmd)
        handler = {INS_AUTHENTICATE_CARD: self._authenticate, INS_WRAP: self._wrap,
                   INS_UNWRAP: self._unwrap, INS_VERIFY_SIGNATURE: self._verify_signature,
                   INS_SIGN_READOUT: self._sign_readout}.get(cmd.ins)
        if handler is None:
            return ResponseAPDU.status(apdu.SW_INS_NOT_SUPPORTED)
        if self.image.tries_left <= 0:
            return ResponseAPDU.status(apdu.SW_AUTH_BLOCKED)
        if not self._unlocked:
            return ResponseAPDU.status(apdu.SW_SECURITY_STATUS)
        return handler(cmd)

    # --- identity and unlocking ---------------------------------------------------------

    def _get_data(self, cmd: CommandAPDU) -> ResponseAPDU:
        if cmd.p1 or cmd.p2:
            return ResponseAPDU.status(apdu.SW_WRONG_P1P2)
        point = self._signing_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        body = (tlv.encode(TAG_SAM_ID, self.image.sam_id.encode())
                + tlv.encode(TAG_INSTITUTION, self.image.institution_id.encode())
                + tlv.encode(TAG_PUBLIC_KEY, point)
                + tlv.encode(TAG_TRIES_LEFT, bytes((max(self.image.tries_left, 0),)))
                + tlv.encode(TAG_KEY_VERSION, bytes((self.image.key_version,))))
        return ResponseAPDU(body, apdu.SW_OK)

    def _verify(self, cmd: CommandAPDU) -> ResponseAPDU:
        if cmd.p1 != 0 or cmd.p2 != P2_SAM_SECRET:
            return ResponseAPDU.status(apdu.SW_WRONG_P1P2)
        if self.image.tries_left <= 0:
            return ResponseAPDU.status(apdu.SW_AUTH_BLOCKED)
        if not cmd.data:                      # ask the state without spending a try
            if self._unlocked:
                return ResponseAPDU.status(apdu.SW_OK)
            return ResponseAPDU.status(apdu.sw_tries_left(self.image.tries_left))
        if len(cmd.data) > MAX_SECRET_BYTES:
            return ResponseAPDU.status(apdu.SW_WRONG_LENGTH)
        try:
            secret = cmd.data.decode("utf-8")
        except UnicodeDecodeError:
            secret = None
        if secret is not None and self.image.check_secret(secret):
            self._unlocked = True
            if self.image.tries_left != self.image.max_tries:
                self.image.tries_left = self.image.max_tries
                self._save()
            return ResponseAPDU.status(apdu.SW_OK)
        self._unlocked = False
        self.image.tries_left -= 1
        self._save()                          # the counter is spent before answering
        if self.image.tries_left <= 0:
            return ResponseAPDU.status(apdu.SW_AUTH_BLOCKED)
        return ResponseAPDU.status(apdu.sw_tries_left(self.image.tries_left))

    def _save(self) -> None:
        if self._store is not None:
            self._store(self.image)

    # --- card authentication ------------------------------------------------------------

    def _authenticate(self, cmd: CommandAPDU) -> ResponseAPDU:
        if cmd.p2:
            return ResponseAPDU.status(apdu.SW_WRONG_P1P2)
        if cmd.p1 == 0x01:
            self._card = None
            try:
                items = tlv.parse(cmd.data)
                uid, rnd_ic = items[TAG_UID], items[TAG_RND_IC]
                key_version = items.get(0x81, bytes((self.image.key_version,)))[0]
            except (tlv.TlvError, KeyError, IndexError):
                return ResponseAPDU.status(apdu.SW_WRONG_DATA)
            if len(rnd_ic) != NONCE_BYTES or not 4 <= len(uid) <= 10:
                return ResponseAPDU.status(apdu.SW_WRONG_DATA)
            if key_version != self.image.key_version:
                return ResponseAPDU.status(apdu.SW_REF_DATA_NOT_FOUND)
            k_enc, k_mac = card_keys(self.image.master_key, uid, key_version)
            rnd_ifd, k_ifd = secrets.token_bytes(NONCE_BYTES), secrets.token_bytes(KEY_BYTES)
            self._card = _CardSession(uid, k_enc, k_mac, rnd_ifd, k_ifd, rnd_ic)
            return ResponseAPDU(auth_cryptogram(k_enc, k_mac, rnd_ifd + rnd_ic + k_ifd),
                                apdu.SW_OK)
        if cmd.p1 == 0x02:
            card = self._card
            if card is None or card.sm is not None:
                return ResponseAPDU.status(apdu.SW_CONDITIONS)
            if len(cmd.data) != AUTH_CRYPTOGRAM_BYTES:
                return ResponseAPDU.status(apdu.SW_WRONG_LENGTH)
            plain = open_auth_cryptogram(card.k_enc, card.k_mac, cmd.data)
            if plain is None or plain[:NONCE_BYTES] != card.rnd_ic or \
                    plain[NONCE_BYTES:2 * NONCE_BYTES] != card.rnd_ifd:
                self._card = None
                return ResponseAPDU.status(apdu.SW_VERIFY_FAILED)
            card.sm = SmChannel(*session_keys(card.k_ifd, plain[2 * NONCE_BYTES:],
                                              card.rnd_ic, card.rnd_ifd))
            return ResponseAPDU.status(apdu.SW_OK)
        return ResponseAPDU.status(apdu.SW_INCORRECT_P1P2)

    def _session(self) -> _CardSession | None:
        card = self._card
        return card if card is not None and card.sm is not None else None

    # --- secure messaging on the host's behalf ----------------------------------------

    def _wrap(self, cmd: CommandAPDU) -> ResponseAPDU:
        card = self._session()
        if card is None or card.sm is None:
            return ResponseAPDU.status(apdu.SW_CONDITIONS)
        try:
            plain = CommandAPDU.parse(cmd.data)
        except apdu.ApduFormatError:
            return ResponseAPDU.status(apdu.SW_WRONG_DATA)
        if plain.cla != apdu.CLA_ISO:
            return ResponseAPDU.status(apdu.SW_WRONG_DATA)
        if plain.ins == apdu.INS_SELECT and len(plain.data) == 2:
            card.pending = ("select", int.from_bytes(plain.data, "big"), 0)
        elif plain.ins == apdu.INS_READ_BINARY and card.current_ef is not None:
            card.pending = ("read", card.current_ef, plain.p1 << 8 | plain.p2)
        else:
            card.pending = None
        return ResponseAPDU(card.sm.protect_command(plain).to_bytes(), apdu.SW_OK)

    def _unwrap(self, cmd: CommandAPDU) -> ResponseAPDU:
        card = self._session()
        if card is None or card.sm is None:
            return ResponseAPDU.status(apdu.SW_CONDITIONS)
        try:
            plain = card.sm.unprotect_response(ResponseAPDU.parse(cmd.data))
        except (SmError, apdu.ApduFormatError):
            self._card = None                       # the chip dropped its keys too
            return ResponseAPDU.status(apdu.SW_SM_INCORRECT)
        pending, card.pending = card.pending, None
        if pending is not None and plain.sw in (apdu.SW_OK, apdu.SW_END_OF_FILE):
            self._note(card, pending, plain)
        return ResponseAPDU(plain.to_bytes(), apdu.SW_OK)

    @staticmethod
    def _note(card: _CardSession, pending: tuple[str, int, int], plain: ResponseAPDU) -> None:
        kind, fid, offset = pending
        if kind == "select":
            card.current_ef = fid
            if fid in layout.PROTECTED_EFS and plain.data:
                try:
                    size = int.from_bytes(tlv.parse(tlv.parse(plain.data)[0x62])[0x80], "big")
                except (tlv.TlvError, KeyError):
                    return
                keep = fid == layout.EF_DOC_SIGNATURE
                card.files[fid] = _FileHash(size, content=bytearray() if keep else None,
                                            broken=keep and size > MAX_KEPT_BYTES)
            return
        h = card.files.get(fid)
        if h is None:
            return
        if offset != h.read or h.read + len(plain.data) > h.size:
            h.broken = True
            return
        h.digest.update(plain.data)
        if h.content is not None:
            h.content += plain.data
        h.read += len(plain.data)

    # --- document signature and readout ------------------------------------------------

    def _verify_signature(self, cmd: CommandAPDU) -> ResponseAPDU:
        card = self._session()
        if card is None:
            return ResponseAPDU.status(apdu.SW_CONDITIONS)
        needed = (*layout.SIGNED_EFS, layout.EF_DOC_SIGNATURE)
        if not all(fid in card.files and card.files[fid].complete for fid in needed):
            return ResponseAPDU.status(apdu.SW_CONDITIONS)
        content = card.files[layout.EF_DOC_SIGNATURE].content
        assert content is not None
        try:
            key_id, signature = layout.decode_doc_signature(bytes(content))
        except layout.LayoutError:
            return ResponseAPDU.status(apdu.SW_VERIFY_FAILED)
        digests = {fid: card.files[fid].digest.copy().digest() for fid in layout.SIGNED_EFS}
        dso = layout.document_security_object(card.uid, digests)
        ok = key_id == self._doc_signer_id
        if ok:
            try:
                self._doc_signer.verify(signature, dso, ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                ok = False
        card.signature_ok = ok
        card.biodata_digest = digests[layout.EF_BIODATA] if ok else b""
        return ResponseAPDU.status(apdu.SW_OK if ok else apdu.SW_VERIFY_FAILED)

    def _sign_readout(self, cmd: CommandAPDU) -> ResponseAPDU:
        card = self._session()
        if card is None or not card.signature_ok:
            return ResponseAPDU.status(apdu.SW_CONDITIONS)
        try:
            items = tlv.parse(cmd.data)
            challenge, digest = items[TAG_CHALLENGE], items[TAG_DIGEST]
        except (tlv.TlvError, KeyError):
            return ResponseAPDU.status(apdu.SW_WRONG_DATA)
        if not 16 <= len(challenge) <= MAX_CHALLENGE_BYTES or len(digest) != 32:
            return ResponseAPDU.status(apdu.SW_WRONG_DATA)
        message = readout.signed_message(sam_id=self.image.sam_id, challenge=challenge,
                                         uid=card.uid, biodata_digest=card.biodata_digest,
                                         readout_digest=digest)
        return ResponseAPDU(self._signing_key.sign(message, ec.ECDSA(hashes.SHA256())),
                            apdu.SW_OK)
