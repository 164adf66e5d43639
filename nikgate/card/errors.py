"""What can go wrong between the teller's PC, the reader, the SAM and the chip.

    NikgateError (nikgate.errors)
    └── CardError                      the base; every message says what to do
        ├── ReaderError                 no such reader, PC/SC not running, no card present
        ├── CardRemoved                 the card (or the SAM) left the reader mid-operation
        ├── CardStatusError             an unexpected status word (`sw`, `command`)
        ├── CardAuthenticationFailed    the chip could not prove the Dukcapil keys: a clone
        ├── SecureMessagingError        a protected reply failed its MAC
        ├── DocumentSignatureInvalid    the chip's data differ from what Dukcapil signed
        └── SamError                    the SAM refused or is unusable
            ├── SamSecretWrong          wrong unlock secret (`tries_left`)
            └── SamLocked               blocked after too many wrong secrets

They live here until the card reader is wired into nikgate/errors.py; they subclass
NikgateError so a caller catching nikgate's errors catches these too. A readout is all or
nothing: when one of these is raised, no partial Readout exists.
"""

from __future__ import annotations

from nikgate.errors import NikgateError

from .apdu import describe_sw


class CardError(NikgateError):
    """Base class of card-reader errors."""

    code = "FAILED_PRECONDITION"


class ReaderError(CardError):
    """The reader cannot be used: not found, PC/SC not running, no card in it."""


class CardRemoved(CardError):
    """The card or the SAM was taken out (or lost power) during the operation."""

    def __init__(self, message: str = "the card was removed during the read; nothing was "
                 "kept: lay the card on the reader again and repeat") -> None:
        super().__init__(message)


class CardStatusError(CardError):
    """The card or SAM answered a status word the protocol does not allow at this step."""

    def __init__(self, message: str, *, sw: int, command: str = "") -> None:
        super().__init__(f"{message} ({describe_sw(sw)})")
        self.sw = sw
        self.command = command


class CardAuthenticationFailed(CardError):
    """Mutual authentication failed: the chip does not hold keys derived from Dukcapil's."""

    def __init__(self, message: str = "the card failed authentication: it is not a genuine "
                 "KTP-el (a cloned or foreign card); do not accept it, ask for another "
                 "identity document") -> None:
        super().__init__(message)


class SecureMessagingError(CardError):
    """A protected reply failed its MAC or had the wrong shape."""


class DocumentSignatureInvalid(CardError):
    """The chip's files are not what the Dukcapil document signer signed."""

    def __init__(self, message: str = "the chip's data do not match Dukcapil's document "
                 "signature: the card has been altered; do not accept it and report the "
                 "card") -> None:
        super().__init__(message)


class SamError(CardError):
    """The SAM refused a command or is not the SAM expected."""


class SamSecretWrong(SamError):
    """The unlock secret was wrong; `tries_left` more attempts before the SAM locks."""

    def __init__(self, tries_left: int) -> None:
        super().__init__(f"the SAM unlock secret is wrong: {tries_left} "
                         f"{'try' if tries_left == 1 else 'tries'} left before the SAM "
                         "locks itself; check the secret in the reader's configuration")
        self.tries_left = tries_left


class SamLocked(SamError):
    """The SAM blocked itself after too many wrong secrets; only Dukcapil can replace it."""

    def __init__(self) -> None:
        super().__init__("the SAM is locked after too many wrong unlock secrets; the reader "
                         "cannot read cards until Dukcapil issues a new SAM")
