"""Synthetic fingers and live captures, deterministic from a seed (no real biometrics).

`finger_template(person, finger)` makes the template a person's chip would hold for one
finger: 25-60 minutiae spread inside a fingerprint-shaped ellipse, at least a ridge gap
apart, each pointing along a ridge-flow field of one of the common pattern classes (loop,
whorl, arch) built from cores and deltas, as real minutiae do.

`live_capture(template, seed)` is what a reader's sensor would extract from the same
finger on another day: the finger lands turned by up to `max_rotation` degrees and moved,
the skin stretches (a smooth displacement field) and every position and direction is a
little off, only part of the finger touches the sensor (minutiae outside the contact
area, or simply not found, are missing), spurious minutiae appear, and some endings read
as bifurcations and back. An impostor capture is `live_capture` of another person's
finger.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

from nikgate.fingerprint.constants import ANGLE_UNITS
from nikgate.fingerprint.template import (
    BIFURCATION,
    ENDING,
    RIGHT_INDEX,
    FingerTemplate,
    Minutia,
)

IMAGE_WIDTH = 400                   # a 500 dpi flat sensor, about 20 x 25 mm
IMAGE_HEIGHT = 500
MIN_MINUTIAE = 25
MAX_MINUTIAE_SYNTH = 60
MIN_SEPARATION = 11.0               # about one ridge period at 500 dpi


def seed_for(*parts: object) -> int:
    """A 64-bit seed from any printable parts (e.g. a NIK and a finger code)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _units(radians: float) -> int:
    return round(radians * ANGLE_UNITS / (2.0 * math.pi)) % ANGLE_UNITS


@dataclass(frozen=True)
class _Flow:
    """A ridge orientation field: zero-pole model around cores and deltas, or an arch."""

    cores: tuple[tuple[float, float], ...]
    deltas: tuple[tuple[float, float], ...]
    base: float
    arch: float                     # bend of an arch (used when there are no singularities)
    cx: float
    cy: float

    def orientation(self, x: float, y: float) -> float:
        """Ridge orientation at (x, y), radians modulo pi."""
        if not self.cores:
            return self.base + self.arch * math.tanh((x - self.cx) / 70.0) * math.exp(
                -(((y - self.cy) / 140.0) ** 2))
        total = sum(math.atan2(y - cy, x - cx) for cx, cy in self.cores)
        total -= sum(math.atan2(y - dy, x - dx) for dx, dy in self.deltas)
        return self.base + 0.5 * total


def _flow(rng: random.Random, cx: float, cy: float) -> _Flow:
    kind = rng.random()
    jitter = lambda spread: rng.uniform(-spread, spread)  # noqa: E731
    if kind < 0.6:                  # loop: one core, one delta below and to one side
        side = rng.choice((-1.0, 1.0))
        cores: tuple[tuple[float, float], ...] = ((cx + jitter(30), cy - 40 + jitter(30)),)
        deltas: tuple[tuple[float, float], ...] = (
            (cx + side * (90 + jitter(30)), cy + 90 + jitter(30)),)
    elif kind < 0.9:                # whorl: two cores, a delta on each side
        cores = ((cx + jitter(20), cy - 30 + jitter(20)), (cx + jitter(20), cy + 10 + jitter(20)))
        deltas = ((cx - 120 + jitter(30), cy + 100 + jitter(30)),
                  (cx + 120 + jitter(30), cy + 100 + jitter(30)))
    else:                           # arch: no singular points
        cores, deltas = (), ()
    return _Flow(cores, deltas, rng.uniform(-0.3, 0.3), rng.uniform(0.4, 0.9), cx, cy)


def finger_template(person: object, finger: int = RIGHT_INDEX, *,
                    seed: int | None = None) -> FingerTemplate:
    """The chip template of `person`'s `finger`: the same person and finger, the same template.

    `person` is any printable id (a NIK); `seed` overrides the seed derived from both.
    """
    rng = random.Random(seed_for("finger", person, finger) if seed is None else seed)
    cx = IMAGE_WIDTH / 2 + rng.uniform(-25, 25)
    cy = IMAGE_HEIGHT / 2 + rng.uniform(-20, 30)
    ax, ay = rng.uniform(125, 160), rng.uniform(175, 215)
    flow = _flow(rng, cx, cy)
    count = max(MIN_MINUTIAE, min(MAX_MINUTIAE_SYNTH, round(rng.gauss(42, 8))))
    points: list[tuple[float, float]] = []
    tries = 0
    while len(points) < count and tries < 20 * count:
        tries += 1
        u, v = rng.uniform(-1, 1), rng.uniform(-1, 1)
        if u * u + v * v > 1:
            continue
        x, y = cx + u * ax, cy + v * ay
        if not (0 <= x < IMAGE_WIDTH and 0 <= y < IMAGE_HEIGHT):
            continue
        if all((x - px) ** 2 + (y - py) ** 2 >= MIN_SEPARATION ** 2 for px, py in points):
            points.append((x, y))
    minutiae = []
    for x, y in points:
        direction = flow.orientation(x, y) + rng.choice((0.0, math.pi)) + rng.gauss(0, 0.08)
        minutiae.append(Minutia(
            kind=ENDING if rng.random() < 0.55 else BIFURCATION,
            x=int(x), y=int(y), angle=_units(direction),
            quality=rng.randint(40, 100)))
    return FingerTemplate(finger=finger, width=IMAGE_WIDTH, height=IMAGE_HEIGHT,
                          minutiae=tuple(minutiae), quality=rng.randint(50, 100))


@dataclass(frozen=True)
class Distortion:
    """How far a live capture departs from the enrolled finger (defaults: a fair reader)."""

    max_rotation: float = 30.0      # degrees, either way
    max_shift: float = 35.0         # pixels, each axis
    stretch: float = 8.0            # peak of the smooth skin displacement, pixels
    position_noise: float = 3.0     # per-minutia position error, pixels (sd)
    angle_noise: float = 7.0        # per-minutia direction error, degrees (sd)
    contact: tuple[float, float] = (0.5, 1.0)    # contact ellipse size, share of the finger
    contact_shift: float = 45.0     # contact ellipse centre offset, pixels
    dropout: float = 0.15           # chance a minutia in contact is still not found
    spurious: float = 0.25          # spurious minutiae, share of the minutiae found
    type_flip: float = 0.12         # chance an ending reads as a bifurcation or back


def _bumps(rng: random.Random, stretch: float, cx: float, cy: float):
    """A smooth displacement field: a few Gaussian pulls of the skin, one per press."""
    bumps = [(cx + rng.uniform(-120, 120), cy + rng.uniform(-150, 150),
              rng.gauss(0, stretch), rng.gauss(0, stretch), rng.uniform(70, 140))
             for _ in range(3)]

    def displace(x: float, y: float) -> tuple[float, float]:
        dx = dy = 0.0
        for bx, by, ux, uy, width in bumps:
            w = math.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2 * width * width))
            dx += ux * w
            dy += uy * w
        return dx, dy

    return displace


def live_capture(template: FingerTemplate, seed: int,
                 distortion: Distortion | None = None) -> FingerTemplate:
    """A synthetic live capture of the finger `template` was enrolled from."""
    d = distortion or Distortion()
    rng = random.Random(seed)
    source = template.minutiae
    if not source:
        return template
    cx = sum(m.x for m in source) / len(source)
    cy = sum(m.y for m in source) / len(source)
    spread_x = max(abs(m.x - cx) for m in source) + 1.0
    spread_y = max(abs(m.y - cy) for m in source) + 1.0
    # Partial contact: only minutiae inside the contact ellipse reach the sensor.
    scale = rng.uniform(*d.contact)
    ex = cx + rng.uniform(-d.contact_shift, d.contact_shift)
    ey = cy + rng.uniform(-d.contact_shift, d.contact_shift)
    rx, ry = spread_x * scale, spread_y * scale
    theta = math.radians(rng.uniform(-d.max_rotation, d.max_rotation))
    c, s = math.cos(theta), math.sin(theta)
    tx, ty = rng.uniform(-d.max_shift, d.max_shift), rng.uniform(-d.max_shift, d.max_shift)
    displace = _bumps(rng, d.stretch, cx, cy)

    def place(x: float, y: float) -> tuple[float, float]:
        ux, uy = displace(x, y)
        x, y = x + ux - cx, y + uy - cy
        return c * x - s * y + cx + tx, s * x + c * y + cy + ty

    found: list[Minutia] = []
    for m in source:
        if ((m.x - ex) / rx) ** 2 + ((m.y - ey) / ry) ** 2 > 1 or rng.random() < d.dropout:
            continue
        x, y = place(m.x + rng.gauss(0, d.position_noise), m.y + rng.gauss(0, d.position_noise))
        kind = m.kind
        if kind in (ENDING, BIFURCATION) and rng.random() < d.type_flip:
            kind = BIFURCATION if kind == ENDING else ENDING
        angle = m.angle + _units(theta + math.radians(rng.gauss(0, d.angle_noise)))
        found.append(Minutia(kind, round(x), round(y), angle % ANGLE_UNITS,
                             max(0, min(100, m.quality + rng.randint(-20, 10)))))
    for _ in range(round(len(found) * d.spurious * rng.uniform(0.3, 1.7))):
        while True:
            u, v = rng.uniform(-1, 1), rng.uniform(-1, 1)
            if u * u + v * v <= 1:
                break
        x, y = place(ex + u * rx, ey + v * ry)
        found.append(Minutia(rng.choice((ENDING, BIFURCATION)), round(x), round(y),
                             rng.randrange(ANGLE_UNITS), rng.randint(10, 60)))
    inside = [m for m in found if 0 <= m.x < template.width and 0 <= m.y < template.height]
    rng.shuffle(inside)             # a matcher must not lean on the order
    return FingerTemplate(finger=template.finger, width=template.width,
                          height=template.height, minutiae=tuple(inside),
                          resolution=template.resolution, quality=rng.randint(30, 100))
