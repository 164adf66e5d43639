"""Waiting in tests: poll until a condition holds, bounded, instead of sleeping a guess.

A fixed sleep is either too long (every run pays it) or too short (a slow run fails with
a confusing assertion). `eventually` returns as soon as the check passes and, when it
never does, fails saying what was awaited and what the check last saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 5.0, interval: float = 0.02,
               what: str = "") -> T:
    """Call `check` until it returns a true value without raising AssertionError, and
    return that value; after `timeout` seconds fail with the last AssertionError (or
    what `check` last returned). `what` names the awaited condition in that failure."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
            last = f"the check returned {result!r}"
        except AssertionError as e:
            last = str(e) or "an assertion failed"
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:g} s: {what or 'the condition'} "
                                 f"({last})")
        time.sleep(interval)
