"""NIK references: a keyed pseudorandom function of the NIK, so the log holds no NIK in clear.

A NIK's reference is 16 bytes, AES-256 (the server secret as key) applied to one 16-byte
block that encodes the NIK as it arrived:

    string of 16 ASCII digits   the 16 digit bytes                    b"3201014507900001"
    integer 0 <= n < 2**64      8 zero bytes + n as 8 bytes big-endian

A block cipher under a secret key is a PRF on single blocks (the standard PRP/PRF
switching argument), and it lets a whole batch be referenced with one C call
(ECB over the concatenated blocks): ~4 us for 1000 NIKs against ~2,100 us for
per-item HMAC-SHA256 (measured; see docs/audit.md). Anything else (a malformed NIK in a
refused call) gets AES-CMAC under a derived key of b"\\xff" + its UTF-8 text, which cannot
collide with the two block forms.

Because a NIK has a string and a number form, `candidate_refs` gives both and queries
match either. AES is a permutation, so the key holder can also invert a block reference
(`niks_of`): the access ledger is rebuilt that way. The key protects the NIKs in the log
as well as a keyed hash would (a keyed hash of a 16-digit number can be searched by
whoever has the key anyway), and it stays on the server.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

from nikgate.engine.nikset import nik_blocks
from nikgate.errors import AuditKeyError

KEY_BYTES = 32
REF_BYTES = 16
# Two blocks, neither a NIK form (not digits, first byte not 0): encrypted to derive the
# CMAC key for malformed NIKs.
_ODD_KEY_LABEL = b"nikgate audit: malformed NIK key"


def load_key(path: str | Path, *, create: bool = False) -> bytes:
    """Read the 32-byte key file; with `create`, make it (mode 0600) if it does not exist."""
    path = Path(path)
    if create and not path.exists():
        _create_key(path)
    try:
        st = path.stat()
        key = path.read_bytes()
    except FileNotFoundError:
        raise AuditKeyError(f"no audit key at {path}: NIK references need the key the server "
                            "wrote the log with (server config `audit.key_file`)") from None
    if st.st_mode & 0o077:
        raise AuditKeyError(f"audit key {path} is readable by group or others "
                            f"(mode {st.st_mode & 0o777:o}): run chmod 600 {path}")
    if len(key) != KEY_BYTES:
        raise AuditKeyError(f"audit key {path} has {len(key)} bytes, expected {KEY_BYTES}")
    return key


def _create_key(path: Path) -> None:
    # Write a temp file, then link it into place: link fails if another process won the race,
    # so every worker ends up with the same key and nobody reads a half-written file.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, os.urandom(KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class NikRefs:
    """Computes NIK references under one key. Thread-safe (one cipher context per thread)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise AuditKeyError(f"audit key has {len(key)} bytes, expected {KEY_BYTES}")
        self._cipher = Cipher(algorithms.AES(key), modes.ECB())
        self._local = threading.local()
        self._odd_key = self._ecb().update(_ODD_KEY_LABEL)

    def _ecb(self):
        # ECB has no state between blocks, so one encryptor per thread serves every call.
        enc = getattr(self._local, "enc", None)
        if enc is None:
            enc = self._local.enc = self._cipher.encryptor()
        return enc

    def refs(self, niks) -> bytes:
        """The references of all `niks`, 16 bytes each, concatenated in order."""
        if not niks:
            return b""
        blocks = nik_blocks(niks if type(niks) is list else list(niks))
        if blocks is not None:  # every item a 16-digit string or a u64: one C call
            return self._ecb().update(blocks)
        return b"".join(self.ref(x) for x in niks)

    def ref(self, nik: str | int) -> bytes:
        """The reference of one NIK as it arrived (string or integer)."""
        if type(nik) is str and len(nik) == 16 and nik.isascii() and nik.isdigit():
            return self._ecb().update(nik.encode("ascii"))
        if type(nik) is int and 0 <= nik < 1 << 64:
            return self._ecb().update(b"\x00" * 8 + nik.to_bytes(8, "big"))
        mac = CMAC(algorithms.AES(self._odd_key))
        mac.update(b"\xff" + str(nik).encode("utf-8", "surrogatepass"))
        return mac.finalize()

    def niks_of(self, refs: bytes) -> list[int | None]:
        """The NIKs behind concatenated references: AES is a permutation, so whoever holds
        the key can invert a block reference (the ledger rebuild does). None for a
        reference of a malformed NIK (CMAC, not invertible) or a block of neither form."""
        if not hasattr(self._local, "dec"):
            self._local.dec = self._cipher.decryptor()
        plain = self._local.dec.update(refs)
        out: list[int | None] = []
        for i in range(0, len(plain) - len(plain) % REF_BYTES, REF_BYTES):
            block = plain[i:i + REF_BYTES]
            if block[:8] == bytes(8):
                out.append(int.from_bytes(block[8:], "big"))
            elif block.isdigit():
                out.append(int(block))
            else:
                out.append(None)
        return out

    def candidate_refs(self, nik: str | int) -> set[bytes]:
        """Every reference a NIK may have been logged under (its string and number forms)."""
        text = str(nik).strip()
        out = {self.ref(text)}
        if text.isascii() and text.isdigit() and int(text) < 1 << 64:
            out.add(self.ref(int(text)))
            if len(text) < 16:
                out.add(self.ref(text.zfill(16)))
        return out
