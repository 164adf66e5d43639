"""The KTP-el card reader: chip and SAM emulators faithful at the APDU level, PC/SC and
in-process readers, and the host-side read that the thin client runs.

Modules, by job: `apdu` (command/response APDUs, status words), `tlv`, `crypto` (AES, CMAC,
KDFs; why AES), `sm` (ISO 7816-4 secure messaging), `layout` (DF 7F0A and its EFs),
`chip` and `sam` (the emulators), `images` (card.json, sam.json, issuing), `docsigner`
(the Dukcapil document-signer key), `reader` (Reader, SimReader, PcscReader), `vpcd` (an
emulated card on a vsmartcard virtual reader), `pcscd` (a private pcscd for tests and
demos), `session` (read_card, SamSession, Readout), `readout` (what the SAM signs for
CardVerify, and the server's check). Its errors are in nikgate/errors.py (CardError).
See docs/card-reader.md.
"""

from nikgate.errors import (
    CardAuthenticationFailed,
    CardError,
    CardRemoved,
    CardStatusError,
    DocumentSignatureInvalid,
    ReaderError,
    SamError,
    SamLocked,
    SamSecretWrong,
    SecureMessagingError,
)

from .docsigner import (
    load_document_signer_public_key,
    load_or_create_card_master_key,
    load_or_create_document_signer,
)
from .images import CardImage, SamImage, issue_card, issue_sam, new_master_key, random_uid
from .reader import PcscReader, Reader, SimReader, open_reader, pcsc_readers
from .readout import digest_of, readout_values, verify_readout_signature
from .session import Readout, SamInfo, SamSession, read_card

__all__ = [
    "CardAuthenticationFailed", "CardError", "CardImage", "CardRemoved", "CardStatusError",
    "DocumentSignatureInvalid", "PcscReader", "Reader", "ReaderError", "Readout",
    "SamError", "SamImage", "SamInfo", "SamLocked", "SamSecretWrong", "SamSession",
    "SecureMessagingError", "SimReader", "digest_of", "issue_card", "issue_sam",
    "load_document_signer_public_key", "load_or_create_card_master_key",
    "load_or_create_document_signer", "new_master_key", "open_reader", "pcsc_readers",
    "random_uid", "read_card", "readout_values", "verify_readout_signature",
]
