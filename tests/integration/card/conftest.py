"""A real PC/SC stack for the card tests: a private pcscd with two vpcd virtual readers, and
emulated cards and SAMs attached to them.

`pcsc` (session): pcscd in its own mount namespace on free ports (nikgate/card/pcscd.py says
why and how), with PCSCLITE_CSOCK_NAME pointing this process's libpcsclite at it; it skips
with the reason when pcscd, the vpcd driver or pyscard is not installed (`make cardreader`
installs them), and fails when they are installed but pcscd does not come up.
`attach(emulator, slot)`: puts an emulator into slot 0 or 1 and waits until PC/SC sees the
card; takes it out again at the end of the test. Every test here is bounded by an alarm.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from nikgate.card.pcscd import PcscdNotInstalled, PrivatePcscd
from nikgate.card.reader import Emulator, PcscReader
from nikgate.card.vpcd import VirtualCard

TEST_SECONDS = 60


@pytest.fixture(autouse=True)
def _bounded() -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"card test took more than {TEST_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(TEST_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="session")
def pcsc(tmp_path_factory) -> Iterator[PrivatePcscd]:
    pytest.importorskip("smartcard", reason="pyscard is not installed "
                        "(pip install 'nikgate[cardreader]')")
    daemon = PrivatePcscd(tmp_path_factory.mktemp("pcscd"))
    try:
        daemon.start()
    except PcscdNotInstalled as e:
        pytest.skip(f"PC/SC stack not installed: {e}; `make cardreader` installs it")
    previous = os.environ.get("PCSCLITE_CSOCK_NAME")
    os.environ.update(daemon.client_env())
    yield daemon
    daemon.stop()
    if previous is None:
        os.environ.pop("PCSCLITE_CSOCK_NAME", None)
    else:
        os.environ["PCSCLITE_CSOCK_NAME"] = previous


def wait_for(reader_name: str, present: bool, timeout: float = 10.0) -> None:
    reader = PcscReader(reader_name)
    deadline = time.monotonic() + timeout
    while reader.card_present() != present:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{reader_name}: card {'never came' if present else 'stayed'}"
                               f" after {timeout:.0f} s")
        time.sleep(0.02)


@pytest.fixture
def attach(pcsc) -> Iterator[Callable[..., str]]:
    """attach(emulator, slot=0, drop_after=None) -> the PC/SC reader name holding it."""
    cards: list[tuple[VirtualCard, str]] = []

    def put(emulator: Emulator, slot: int = 0, *, drop_after: int | None = None) -> str:
        name = pcsc.readers[slot]
        card = VirtualCard(emulator, pcsc.ports[slot], drop_after=drop_after).start()
        cards.append((card, name))
        wait_for(name, True)
        return name

    yield put
    for card, name in cards:
        card.stop()
        wait_for(name, False)
        assert card.error is None, f"the virtual card failed: {card.error!r}"
