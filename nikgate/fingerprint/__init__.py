"""Fingerprint 1:1 on the device: chip templates, the minutiae matcher, the match policy.

    template = decode_template(ef_6ff4_bytes)      # InvalidInputError if malformed
    chip = prepare(template)                        # once per card
    outcome = verify(live_template, chip)           # per attempt, at most MAX_ATTEMPTS
    outcome.matched, outcome.score                  # score 0-100, DEFAULT_THRESHOLD

`match_score` is the fast matcher (matcher.py); reference.py is its plain twin, a test
oracle only. synth.py makes synthetic fingers and captures for cards, demos and the bench.
docs/fingerprint.md describes the format, the algorithm and the measured error rates.
"""

from __future__ import annotations

from dataclasses import dataclass

from nikgate.errors import InvalidInputError
from nikgate.fingerprint.constants import DEFAULT_THRESHOLD, MAX_ATTEMPTS, MAX_TEMPLATE_BYTES
from nikgate.fingerprint.matcher import Prepared, match_score, prepare
from nikgate.fingerprint.template import (
    BIFURCATION,
    ENDING,
    FINGER_EF,
    FINGER_NAMES,
    LEFT_INDEX,
    RIGHT_INDEX,
    FingerTemplate,
    Minutia,
    decode_template,
    encode_template,
)

__all__ = [
    "BIFURCATION", "DEFAULT_THRESHOLD", "ENDING", "FINGER_EF", "FINGER_NAMES", "LEFT_INDEX",
    "MAX_ATTEMPTS", "MAX_TEMPLATE_BYTES", "RIGHT_INDEX", "FingerTemplate", "MatchOutcome",
    "Minutia", "Prepared", "decode_template", "encode_template", "match_score", "prepare",
    "verify",
]


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    """The result of one attempt: a failed match is a result, not an exception."""

    matched: bool
    score: float
    threshold: float


def verify(live: FingerTemplate, chip: FingerTemplate | Prepared, *,
           threshold: float = DEFAULT_THRESHOLD) -> MatchOutcome:
    """Match a live capture against the chip's template (prepared or not).

    Raises InvalidInputError when the "live" template is the chip's own minutiae: no
    sensor reproduces a template exactly, so that is a caller comparing the chip's
    template with itself (which always matches) or a replayed template, never a finger.
    """
    if not 0.0 <= threshold <= 100.0:
        raise InvalidInputError(f"match threshold must be 0..100, got {threshold}",
                                field="threshold")
    chip_points = (sorted(zip(chip.xs, chip.ys, chip.angles)) if isinstance(chip, Prepared)
                   else sorted((m.x, m.y, m.angle) for m in chip.minutiae))
    live_points = sorted((m.x, m.y, m.angle) for m in live.minutiae)
    if live.minutiae and live_points == chip_points:
        raise InvalidInputError(
            "the live template is identical to the chip's template; match a fresh capture "
            "from the sensor against the template read from the card", field="template")
    score = match_score(live, chip)
    return MatchOutcome(score >= threshold, score, threshold)
