"""The symmetric cryptography of the card protocol: AES-128, CMAC, padding, key derivation.

Why AES and not 3-key TDES: the real KTP-el SAM is specified with 3-key TDES, but TDES has a
64-bit block (Sweet32 limits on how much one key may protect) and `cryptography` has moved it
to its `decrepit` module on the way out. ISO 7816-4 secure messaging is defined over any
block cipher, and BSI TR-03110 specifies exactly this construction with AES (CBC with the
IV derived from the send sequence counter, CMAC truncated to 8 bytes, ISO 9797-1 padding
method 2). Swapping the block cipher back is confined to this module: the APDUs, data
objects and the protocol do not change shape (a TDES variant only changes the block size
and the nonce sizes used here).

Keys:
- per-card keys: K_enc, K_mac = KDF(master key, label, UID) (NIST SP 800-108 counter mode
  with AES-CMAC as the PRF), so one card's keys reveal nothing about another's, and a card
  with another UID or made without the master key cannot authenticate;
- session keys: KS_enc, KS_mac = KDF(K.IFD xor K.IC, label, RND.IC || RND.IFD), fresh for
  every authentication; the send sequence counter starts from the two nonces.
"""

from __future__ import annotations

import hmac
from typing import Final

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFCMAC, CounterLocation, Mode

BLOCK: Final = 16
KEY_BYTES: Final = 16             # AES-128 card and session keys
MASTER_KEY_BYTES: Final = 16
MAC_BYTES: Final = 8              # CMAC truncated, as in ISO 7816-4 SM with AES
NONCE_BYTES: Final = 8            # RND.IC and RND.IFD (GET CHALLENGE answers 8 bytes)
AUTH_CRYPTOGRAM_BYTES: Final = 2 * NONCE_BYTES + KEY_BYTES + MAC_BYTES   # 40

LABEL_CARD_ENC: Final = b"nikgate KTP-el card K_enc"
LABEL_CARD_MAC: Final = b"nikgate KTP-el card K_mac"
LABEL_SESSION_ENC: Final = b"nikgate KTP-el session KS_enc"
LABEL_SESSION_MAC: Final = b"nikgate KTP-el session KS_mac"


def pad(data: bytes) -> bytes:
    """ISO/IEC 9797-1 padding method 2: 80, then 00s to a whole block (always adds)."""
    n = BLOCK - (len(data) + 1) % BLOCK
    return bytes(data) + b"\x80" + b"\x00" * (n % BLOCK)


def unpad(data: bytes) -> bytes:
    """Remove method-2 padding; ValueError when there is none."""
    if not data or len(data) % BLOCK:
        raise ValueError("padded data is not a whole number of blocks")
    stripped = data.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80 or len(data) - len(stripped) >= BLOCK:
        raise ValueError("bad ISO 9797-1 method 2 padding")
    return stripped[:-1]


def kdf(key: bytes, label: bytes, context: bytes, length: int = KEY_BYTES) -> bytes:
    """NIST SP 800-108 KDF in counter mode, PRF AES-CMAC."""
    return KBKDFCMAC(algorithms.AES, Mode.CounterMode, length, 4, 4,
                     CounterLocation.BeforeFixed, label, context, None).derive(key)


def card_keys(master_key: bytes, uid: bytes, key_version: int) -> tuple[bytes, bytes]:
    """The card's (K_enc, K_mac), diversified from the master key and the chip UID."""
    if len(master_key) != MASTER_KEY_BYTES:
        raise ValueError(f"master key must be {MASTER_KEY_BYTES} bytes, got {len(master_key)}")
    context = bytes((key_version,)) + uid
    return kdf(master_key, LABEL_CARD_ENC, context), kdf(master_key, LABEL_CARD_MAC, context)


def session_keys(k_ifd: bytes, k_ic: bytes, rnd_ic: bytes,
                 rnd_ifd: bytes) -> tuple[bytes, bytes, int]:
    """(KS_enc, KS_mac, SSC) after mutual authentication."""
    seed = bytes(a ^ b for a, b in zip(k_ifd, k_ic, strict=True))
    context = rnd_ic + rnd_ifd
    ssc = int.from_bytes(rnd_ic[-4:] + rnd_ifd[-4:], "big")
    return (kdf(seed, LABEL_SESSION_ENC, context), kdf(seed, LABEL_SESSION_MAC, context), ssc)


def mac8(key: bytes, data: bytes) -> bytes:
    """AES-CMAC over `data`, truncated to 8 bytes."""
    c = cmac.CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()[:MAC_BYTES]


def mac_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    e = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return e.update(data) + e.finalize()


def cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    if len(data) % BLOCK:
        raise ValueError("ciphertext is not a whole number of blocks")
    d = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return d.update(data) + d.finalize()


def ecb_block(key: bytes, block: bytes) -> bytes:
    e = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return e.update(block) + e.finalize()


ZERO_IV: Final = bytes(BLOCK)


def auth_cryptogram(k_enc: bytes, k_mac: bytes, plain: bytes) -> bytes:
    """E || M for mutual authentication: AES-CBC (zero IV) of 32 bytes, then its CMAC."""
    enc = cbc_encrypt(k_enc, ZERO_IV, plain)
    return enc + mac8(k_mac, enc)


def open_auth_cryptogram(k_enc: bytes, k_mac: bytes, cryptogram: bytes) -> bytes | None:
    """The 32 plain bytes of E || M, or None when the MAC is wrong (wrong keys)."""
    if len(cryptogram) != AUTH_CRYPTOGRAM_BYTES:
        return None
    enc, mac = cryptogram[:-MAC_BYTES], cryptogram[-MAC_BYTES:]
    if not mac_equal(mac8(k_mac, enc), mac):
        return None
    return cbc_decrypt(k_enc, ZERO_IV, enc)
