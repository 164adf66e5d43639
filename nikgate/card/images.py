"""Card images (`card.json`) and SAM images (`sam.json`): what an emulator is made from.

A card image is the chip's memory after personalisation: UID, key version, the two
diversified card keys and the file contents. A SAM image is the SAM's memory: its id and
institution, the master key, the document signer's public key, its own ECDSA P-256 key pair
(the server registers the public half to check readout signatures), and the unlock secret
as a salted scrypt hash with the tries counter. Both are written mode 0600 and replaced
atomically; the SAM emulator writes its image back when the tries counter changes, as a real
SAM's EEPROM keeps it. These files stand in for silicon: whoever reads sam.json has the
master key, which is why a real deployment keeps it in a secure element.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from . import layout
from .crypto import MASTER_KEY_BYTES, card_keys
from .docsigner import public_der, public_pem
from .pictures import photo_png, signature_png

CARD_KIND = "nikgate-ktp-el-card"
SAM_KIND = "nikgate-sam"
FORMAT_VERSION = 1
DEFAULT_SAM_TRIES = 5
# scrypt cost for the unlock secret: about 50 ms per VERIFY on a PC.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
_NIK = re.compile(r"[0-9]{16}")


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _unb64(s: str) -> bytes:
    return base64.b64decode(s.encode("ascii"), validate=True)


def write_private(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `path` with mode 0600, atomically (temp file, fsync, rename)."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def random_uid() -> bytes:
    """A 7-byte ISO 14443 A double-size UID (first byte: an NXP-like manufacturer code)."""
    return b"\x04" + secrets.token_bytes(6)


def new_master_key() -> bytes:
    return secrets.token_bytes(MASTER_KEY_BYTES)


@dataclass(frozen=True)
class CardImage:
    """The chip's memory. `files` maps EF ids (0x6FF0-0x6FF6) to their contents."""

    uid: bytes
    key_version: int
    k_enc: bytes
    k_mac: bytes
    files: dict[int, bytes]

    @property
    def nik(self) -> str:
        return layout.decode_biodata(self.files[layout.EF_BIODATA])["NIK"]

    def with_file(self, fid: int, content: bytes) -> CardImage:
        """A copy with one file replaced (tests: an altered chip)."""
        return replace(self, files={**self.files, fid: content})

    def to_json(self) -> str:
        return json.dumps({
            "kind": CARD_KIND, "version": FORMAT_VERSION,
            "uid": self.uid.hex().upper(), "key_version": self.key_version,
            "k_enc": _b64(self.k_enc), "k_mac": _b64(self.k_mac),
            "files": {f"{fid:04X}": _b64(data) for fid, data in sorted(self.files.items())},
        }, indent=1)

    @classmethod
    def from_json(cls, text: str) -> CardImage:
        d = json.loads(text)
        if d.get("kind") != CARD_KIND:
            raise ValueError(f"not a card image (kind {d.get('kind')!r})")
        if d.get("version") != FORMAT_VERSION:
            raise ValueError(f"card image version {d.get('version')} is not supported")
        return cls(uid=bytes.fromhex(d["uid"]), key_version=int(d["key_version"]),
                   k_enc=_unb64(d["k_enc"]), k_mac=_unb64(d["k_mac"]),
                   files={int(k, 16): _unb64(v) for k, v in d["files"].items()})

    def save(self, path: str | os.PathLike[str]) -> None:
        write_private(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CardImage:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def issue_card(record: Mapping[str, str], uid: bytes, master_key: bytes,
               doc_signer_key: ec.EllipticCurvePrivateKey,
               fingerprints: Mapping[str, bytes], photo: bytes | None = None,
               signature_image: bytes | None = None, *, issued: dt.date | None = None,
               key_version: int = 1) -> CardImage:
    """Personalise a chip from a population record (keys as nikgate.engine.schema names).

    `fingerprints` maps "right_index" and "left_index" to template bytes (opaque here; the
    fingerprint package makes them). The photo and signature image default to synthetic
    PNGs seeded from the NIK.
    """
    nik = str(record.get("NIK", ""))
    if not _NIK.fullmatch(nik):
        raise ValueError(f"the record's NIK must be 16 digits, got {nik!r}")
    if not 4 <= len(uid) <= 10:
        raise ValueError(f"a chip UID has 4, 7 or 10 bytes, got {len(uid)}")
    missing = set(layout.FINGER_EFS) - set(fingerprints)
    if missing:
        raise ValueError(f"fingerprint templates missing for {sorted(missing)}")
    issued = issued or dt.date.today()
    fields = {**{k: str(v) for k, v in record.items()},
              "BERLAKU_HINGGA": record.get("BERLAKU_HINGGA") or "SEUMUR HIDUP",
              "TGL_TERBIT": record.get("TGL_TERBIT") or issued.isoformat()}
    files = {
        layout.EF_CARD_CONTROL: layout.encode_card_control(uid, key_version, issued.isoformat()),
        layout.EF_BIODATA: layout.encode_biodata(fields),
        layout.EF_PHOTO: photo if photo is not None else photo_png(nik),
        layout.EF_SIGNATURE_IMAGE: (signature_image if signature_image is not None
                                    else signature_png(nik)),
    }
    for finger, fid in layout.FINGER_EFS.items():
        files[fid] = bytes(fingerprints[finger])
    for fid, data in files.items():
        if len(data) > layout.MAX_EF_BYTES:
            raise ValueError(f"EF {fid:04X} would be {len(data)} bytes; max "
                             f"{layout.MAX_EF_BYTES}")
    dso = layout.document_security_object(uid, layout.file_digests(files))
    signature = doc_signer_key.sign(dso, ec.ECDSA(hashes.SHA256()))
    key_id = layout.signer_key_id(public_der(doc_signer_key.public_key()))
    files[layout.EF_DOC_SIGNATURE] = layout.encode_doc_signature(key_id, signature)
    k_enc, k_mac = card_keys(master_key, uid, key_version)
    return CardImage(uid=uid, key_version=key_version, k_enc=k_enc, k_mac=k_mac, files=files)


# --- SAM ---------------------------------------------------------------------------------


def hash_secret(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R,
                          p=SCRYPT_P, dklen=32)


@dataclass
class SamImage:
    """The SAM's memory; mutable only in `tries_left` (the emulator's counter)."""

    sam_id: str
    institution_id: str
    key_version: int
    master_key: bytes
    doc_signer_public_der: bytes
    signing_key_der: bytes              # PKCS#8 DER of the SAM's own ECDSA P-256 key
    secret_salt: bytes
    secret_hash: bytes
    max_tries: int = DEFAULT_SAM_TRIES
    tries_left: int = DEFAULT_SAM_TRIES
    issued: str = field(default_factory=lambda: dt.date.today().isoformat())

    def check_secret(self, secret: str) -> bool:
        return hmac.compare_digest(hash_secret(secret, self.secret_salt), self.secret_hash)

    def signing_key(self) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_der_private_key(self.signing_key_der, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key

    def public_key_pem(self) -> bytes:
        """The SAM's readout-signing public key, for the server's SAM registry."""
        return public_pem(self.signing_key().public_key())

    def to_json(self) -> str:
        return json.dumps({
            "kind": SAM_KIND, "version": FORMAT_VERSION,
            "sam_id": self.sam_id, "institution_id": self.institution_id,
            "key_version": self.key_version, "master_key": _b64(self.master_key),
            "doc_signer_public_key": _b64(self.doc_signer_public_der),
            "signing_key": _b64(self.signing_key_der),
            "secret": {"kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
                       "salt": _b64(self.secret_salt), "hash": _b64(self.secret_hash)},
            "max_tries": self.max_tries, "tries_left": self.tries_left,
            "issued": self.issued,
        }, indent=1)

    @classmethod
    def from_json(cls, text: str) -> SamImage:
        d: dict[str, Any] = json.loads(text)
        if d.get("kind") != SAM_KIND:
            raise ValueError(f"not a SAM image (kind {d.get('kind')!r})")
        if d.get("version") != FORMAT_VERSION:
            raise ValueError(f"SAM image version {d.get('version')} is not supported")
        s = d["secret"]
        if (s["kdf"], s["n"], s["r"], s["p"]) != ("scrypt", SCRYPT_N, SCRYPT_R, SCRYPT_P):
            raise ValueError("the SAM image's secret uses unsupported KDF parameters")
        return cls(sam_id=d["sam_id"], institution_id=d["institution_id"],
                   key_version=int(d["key_version"]), master_key=_unb64(d["master_key"]),
                   doc_signer_public_der=_unb64(d["doc_signer_public_key"]),
                   signing_key_der=_unb64(d["signing_key"]),
                   secret_salt=_unb64(s["salt"]), secret_hash=_unb64(s["hash"]),
                   max_tries=int(d["max_tries"]), tries_left=int(d["tries_left"]),
                   issued=d.get("issued", ""))

    def save(self, path: str | os.PathLike[str]) -> None:
        write_private(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SamImage:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def issue_sam(institution_id: str, master_key: bytes,
              doc_signer_public_key: ec.EllipticCurvePublicKey, secret: str, sam_id: str,
              *, max_tries: int = DEFAULT_SAM_TRIES, key_version: int = 1) -> SamImage:
    """Personalise a SAM for an institution; the secret is kept only as a scrypt hash."""
    if len(master_key) != MASTER_KEY_BYTES:
        raise ValueError(f"master key must be {MASTER_KEY_BYTES} bytes")
    if len(secret) < 6:
        raise ValueError("the SAM secret must have at least 6 characters")
    if not 1 <= max_tries <= 15:
        raise ValueError("max_tries must be 1..15 (63Cx counts up to 15)")
    if not sam_id or not institution_id:
        raise ValueError("sam_id and institution_id are required")
    salt = secrets.token_bytes(16)
    key = ec.generate_private_key(ec.SECP256R1())
    return SamImage(
        sam_id=sam_id, institution_id=institution_id, key_version=key_version,
        master_key=bytes(master_key), doc_signer_public_der=public_der(doc_signer_public_key),
        signing_key_der=key.private_bytes(serialization.Encoding.DER,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()),
        secret_salt=salt, secret_hash=hash_secret(secret, salt),
        max_tries=max_tries, tries_left=max_tries)
