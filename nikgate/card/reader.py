"""Readers: one `Reader` protocol over the in-process emulator and real PC/SC.

    open_reader("sim:card.json")           the emulator in this process (tests, demos)
    open_reader("pcsc:Virtual PCD 00 00")  any PC/SC reader, virtual or hardware (pyscard)

Both report a card leaving the field the same way, `CardRemoved`: the simulator when told
to drop the card after N APDUs (`drop_after`) or by `remove()`, PC/SC when pcscd answers
SCARD_W_REMOVED_CARD and its relatives.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from nikgate.errors import CardRemoved, ReaderError

from .apdu import CommandAPDU, ResponseAPDU
from .chip import ChipEmulator
from .images import CARD_KIND, SAM_KIND, CardImage, SamImage
from .sam import SamEmulator


@runtime_checkable
class Reader(Protocol):
    """A slot holding one card (a KTP-el on the antenna, or the SAM in its slot)."""

    name: str

    def connect(self) -> bytes:
        """Power the card and return its ATR; ReaderError when there is no card."""
        ...

    def disconnect(self) -> None: ...

    def card_present(self) -> bool: ...

    def transmit(self, command: bytes) -> tuple[bytes, int]:
        """Send one command APDU; returns (response data, SW). CardRemoved if it left."""
        ...


class Emulator(Protocol):
    atr: bytes

    def power_on(self) -> None: ...

    def power_off(self) -> None: ...

    def process(self, raw: bytes) -> bytes: ...


def exchange(reader: Reader, command: CommandAPDU) -> ResponseAPDU:
    """Send a CommandAPDU, get a ResponseAPDU."""
    data, sw = reader.transmit(command.to_bytes())
    return ResponseAPDU(data, sw)


class SimReader:
    """An emulator in this process. `drop_after=N`: the card leaves after N APDUs."""

    def __init__(self, emulator: Emulator, name: str = "sim", *,
                 drop_after: int | None = None) -> None:
        self.emulator = emulator
        self.name = name
        self.drop_after = drop_after
        self.sent = 0
        self._present = True
        self._connected = False

    def connect(self) -> bytes:
        if not self._present:
            raise ReaderError(f"no card on reader {self.name}: lay the card on the reader")
        self.emulator.power_on()
        self._connected = True
        return self.emulator.atr

    def disconnect(self) -> None:
        if self._connected and self._present:
            self.emulator.power_off()
        self._connected = False

    def card_present(self) -> bool:
        return self._present

    def remove(self) -> None:
        """Take the card away (it loses power and every session)."""
        self._present = False
        self._connected = False
        self.emulator.power_off()

    def insert(self) -> None:
        self._present = True

    def transmit(self, command: bytes) -> tuple[bytes, int]:
        if self.drop_after is not None and self.sent >= self.drop_after and self._present:
            self.remove()
        if not self._present:
            raise CardRemoved()
        if not self._connected:
            raise ReaderError(f"reader {self.name}: transmit before connect")
        self.sent += 1
        raw = self.emulator.process(bytes(command))
        return raw[:-2], int.from_bytes(raw[-2:], "big")


def load_emulator(path: str | Path) -> ChipEmulator | SamEmulator:
    """A chip from card.json or a SAM from sam.json (the SAM saves its counter back)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        kind = json.loads(text).get("kind")
    except (OSError, ValueError) as e:
        raise ReaderError(f"cannot read the card image {p}: {e}") from None
    if kind == CARD_KIND:
        return ChipEmulator(CardImage.from_json(text))
    if kind == SAM_KIND:
        return SamEmulator(SamImage.from_json(text), store=lambda image: image.save(p))
    raise ReaderError(f"{p} is neither a card image nor a SAM image (kind {kind!r})")


def open_reader(spec: str) -> Reader:
    """`sim:PATH` (a card.json or sam.json) or `pcsc:NAME` (a PC/SC reader name or a unique
    part of one)."""
    scheme, _, rest = spec.partition(":")
    if scheme == "sim" and rest:
        return SimReader(load_emulator(rest), name=spec)
    if scheme == "pcsc" and rest:
        return PcscReader(rest)
    raise ReaderError(f"reader {spec!r}: use sim:PATH (a card.json or sam.json) or "
                      "pcsc:NAME (see `pcsc_readers()` for the names)")


# --- PC/SC ---------------------------------------------------------------------------------


def _scard() -> Any:
    try:
        from smartcard import scard  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        raise ReaderError("PC/SC needs pyscard: pip install 'nikgate[cardreader]' (and "
                          "apt-get install pcscd)") from None
    return scard


# pcsc-lite codes that mean the card is gone or lost power under us.
_REMOVED = ("SCARD_W_REMOVED_CARD", "SCARD_E_NO_SMARTCARD", "SCARD_W_RESET_CARD",
            "SCARD_W_UNPOWERED_CARD", "SCARD_W_UNRESPONSIVE_CARD", "SCARD_E_NOT_TRANSACTED",
            "SCARD_E_READER_UNAVAILABLE")


def _message(scard: Any, hresult: int) -> str:
    try:
        return f"{scard.SCardGetErrorMessage(hresult)} (0x{hresult & 0xFFFFFFFF:08X})"
    except Exception:                                    # noqa: BLE001 - best effort text
        return f"0x{hresult & 0xFFFFFFFF:08X}"


def _context(scard: Any) -> Any:
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        raise ReaderError(f"PC/SC is not available: {_message(scard, hresult)}; is pcscd "
                          "running?")
    return context


def pcsc_readers() -> list[str]:
    """The PC/SC reader names pcscd reports (empty when there are none)."""
    scard = _scard()
    context = _context(scard)
    try:
        hresult, names = scard.SCardListReaders(context, [])
        if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        if hresult != scard.SCARD_S_SUCCESS:
            raise ReaderError(f"cannot list PC/SC readers: {_message(scard, hresult)}")
        return list(names)
    finally:
        scard.SCardReleaseContext(context)


class PcscReader:
    """A PC/SC reader through pcscd (pyscard's low-level `scard` API)."""

    def __init__(self, name: str) -> None:
        self.wanted = name
        self.name = name
        self._scard = _scard()
        self._context: Any = None
        self._card: Any = None
        self._protocol: int = 0

    def _resolve(self) -> str:
        hresult, names = self._scard.SCardListReaders(self._context, [])
        if hresult not in (self._scard.SCARD_S_SUCCESS,
                           self._scard.SCARD_E_NO_READERS_AVAILABLE):
            raise ReaderError(f"cannot list PC/SC readers: {_message(self._scard, hresult)}")
        names = list(names) if hresult == self._scard.SCARD_S_SUCCESS else []
        if self.wanted in names:
            return self.wanted
        matches = [n for n in names if self.wanted in n]
        if len(matches) == 1:
            return matches[0]
        raise ReaderError(f"no PC/SC reader named {self.wanted!r}"
                          + (f" (ambiguous: {matches})" if matches else "")
                          + f"; readers: {names or 'none'}")

    def connect(self) -> bytes:
        if self._context is None:
            self._context = _context(self._scard)
        self.name = self._resolve()
        s = self._scard
        hresult, card, protocol = s.SCardConnect(
            self._context, self.name, s.SCARD_SHARE_SHARED, s.SCARD_PROTOCOL_T0 | s.SCARD_PROTOCOL_T1)
        if hresult != s.SCARD_S_SUCCESS:
            if hresult in (s.SCARD_E_NO_SMARTCARD, s.SCARD_W_REMOVED_CARD):
                raise ReaderError(f"no card on reader {self.name}: lay the card on the reader")
            raise ReaderError(f"cannot connect to {self.name}: {_message(s, hresult)}")
        self._card, self._protocol = card, protocol
        hresult, _, _, _, atr = s.SCardStatus(card)
        if hresult != s.SCARD_S_SUCCESS:
            self._fail(hresult, "status")
        return bytes(atr)

    def disconnect(self) -> None:
        s = self._scard
        if self._card is not None:
            s.SCardDisconnect(self._card, s.SCARD_LEAVE_CARD)
            self._card = None
        if self._context is not None:
            s.SCardReleaseContext(self._context)
            self._context = None

    def card_present(self) -> bool:
        s = self._scard
        context = self._context or _context(s)
        try:
            state = [(self.name, s.SCARD_STATE_UNAWARE)]
            hresult, states = s.SCardGetStatusChange(context, 0, state)
            if hresult != s.SCARD_S_SUCCESS or not states:
                return False
            return bool(states[0][1] & s.SCARD_STATE_PRESENT)
        finally:
            if context is not self._context:
                s.SCardReleaseContext(context)

    def _fail(self, hresult: int, what: str) -> None:
        s = self._scard
        if any(hresult == getattr(s, code, None) for code in _REMOVED):
            self._card = None
            raise CardRemoved()
        raise ReaderError(f"{what} on {self.name} failed: {_message(s, hresult)}")

    def _check_still_there(self, timeout: float = 1.0) -> None:
        s = self._scard
        deadline = time.monotonic() + timeout
        while True:
            hresult = s.SCardStatus(self._card)[0]
            if hresult != s.SCARD_S_SUCCESS:
                self._fail(hresult, "status")
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)            # pcscd's polling thread notices within ~0.4 s

    def transmit(self, command: bytes) -> tuple[bytes, int]:
        if self._card is None:
            raise ReaderError(f"reader {self.name}: transmit before connect")
        s = self._scard
        hresult, response = s.SCardTransmit(self._card, self._protocol, list(command))
        if hresult != s.SCARD_S_SUCCESS:
            self._fail(hresult, "transmit")
        raw = bytes(response)
        if len(raw) < 2:
            # vpcd answers "success" with nothing when its card disconnects mid-command;
            # hardware readers report SCARD_W_REMOVED_CARD. Ask pcscd which it is.
            self._check_still_there()
            raise ReaderError(f"reader {self.name} returned {len(raw)} bytes, no status word")
        data, sw = raw[:-2], int.from_bytes(raw[-2:], "big")
        # T=0 cards: fetch what is waiting (61xx) or repeat with the exact Le (6Cxx).
        if sw >> 8 == 0x6C and len(command) >= 5:
            return self.transmit(bytes(command[:-1]) + bytes((sw & 0xFF,)))
        while sw >> 8 == 0x61:
            more, sw = self.transmit(bytes((command[0] & 0x03, 0xC0, 0, 0, sw & 0xFF)))
            data += more
        return data, sw
