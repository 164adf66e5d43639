"""Dukcapil's card keys: the document-signer key and the card master key.

The document signer is the ECDSA P-256 key that signs every chip's data. It lives next to
the CA (`<ca_dir>/document-signer.key`, PKCS#8 PEM, mode 0600, and
`<ca_dir>/document-signer.pem`, the public key as SubjectPublicKeyInfo PEM, which SAMs
are personalised with). The card master key (`<ca_dir>/card-master.key`, 16 random bytes
in hex, mode 0600) is what each chip's keys are diversified from (with its UID) and what
every SAM carries; `nikgate card issue` and `nikgate sam issue` read both from there.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

KEY_NAME = "document-signer.key"
PUBLIC_NAME = "document-signer.pem"
MASTER_KEY_NAME = "card-master.key"


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def load_or_create_document_signer(ca_dir: str | os.PathLike[str]) -> ec.EllipticCurvePrivateKey:
    """The document-signer key in `ca_dir`, made on first use."""
    ca = Path(ca_dir)
    key_path = ca / KEY_NAME
    if key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError(f"{key_path} is not an ECDSA P-256 key")
        return key
    ca.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    _write_private(key_path, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (ca / PUBLIC_NAME).write_bytes(public_pem(key.public_key()))
    return key


def public_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def public_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def load_document_signer_public_key(path: str | os.PathLike[str]) -> ec.EllipticCurvePublicKey:
    """The public key from `document-signer.pem` (or from a CA directory holding it)."""
    p = Path(path)
    if p.is_dir():
        p = p / PUBLIC_NAME
    key = serialization.load_pem_public_key(p.read_bytes())
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError(f"{p} is not an EC public key")
    return key


def load_or_create_card_master_key(ca_dir: str | os.PathLike[str]) -> bytes:
    """The card master key in `ca_dir`, made on first use (see the module docstring)."""
    from .images import MASTER_KEY_BYTES, new_master_key

    path = Path(ca_dir) / MASTER_KEY_NAME
    if path.exists():
        try:
            key = bytes.fromhex(path.read_text().strip())
        except ValueError:
            key = b""
        if len(key) != MASTER_KEY_BYTES:
            raise ValueError(f"{path} must hold {MASTER_KEY_BYTES} bytes in hex")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_master_key()
    _write_private(path, key.hex().encode() + b"\n")
    return key
