"""The fast minutiae matcher: reference.py's algorithm, indexed instead of searched.

Gives exactly the reference score (tests/unit/test_fingerprint.py checks it on random and
synthetic templates); only the way candidates are found differs:

- `prepare` computes a template's minutiae arrays and local edges once. A chip template is
  prepared once per card and matched against every attempt.
- Chip edges are filed in a table under (length bucket, start-angle bucket, end-angle
  bucket), buckets two tolerances wide, each edge also under the neighbouring bucket on
  the side of the half it lies in (8 cells), so a live edge finds every chip edge that
  might correspond with one dictionary lookup; the reference's exact test then decides.
- Chip minutiae are filed in a grid of cells a little wider than PAIR_DISTANCE, again
  copied into the 9 cells around their own, so an aligned live minutia finds its possible
  partners with one lookup.
- An alignment stops early once the live minutiae left, even if each found a partner,
  could not beat the best count so far; and the search stops once a count reaches the
  most any alignment can give (every minutia of the smaller template paired).

Arithmetic is written exactly as in reference.py, operation for operation, so both compute
the same floating-point numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nikgate.fingerprint.constants import (
    ANGLE_UNITS,
    CANDIDATE_ALIGNMENTS,
    EDGE_ANGLE_TOLERANCE,
    EDGE_LENGTH_TOLERANCE,
    EDGE_MAX,
    EDGE_MIN,
    EDGE_NEIGHBOURS,
    MAX_ROTATION,
    PAIR_ANGLE,
    PAIR_DISTANCE,
)
from nikgate.fingerprint.template import FingerTemplate

TURN = 2.0 * math.pi
_TO_UNITS = ANGLE_UNITS / TURN
# _GAP[(a - b) % ANGLE_UNITS] is the smaller way round between directions a and b.
_GAP = tuple(min(d, ANGLE_UNITS - d) for d in range(ANGLE_UNITS))
_PAIR_D2 = PAIR_DISTANCE * PAIR_DISTANCE
_CELL = PAIR_DISTANCE + 1.0                 # margin against rounding at cell borders
# Edge buckets are two tolerances wide; a chip edge is filed in its own bucket and in the
# neighbour on the side of the half it lies in, so any edge within one tolerance of it
# (whose own bucket is looked up) finds it.
_LENGTH_BUCKET = 2.0 * EDGE_LENGTH_TOLERANCE + 1.0     # the 1 is margin against rounding
_ANGLE_BUCKET = 2 * EDGE_ANGLE_TOLERANCE
_ANGLE_BUCKETS = ANGLE_UNITS // _ANGLE_BUCKET
_GRID_OFFSET = 1 << 12                      # keeps cell coordinates positive in the key
# Angle buckets wrap around the circle, so they must divide the turn.
assert ANGLE_UNITS % _ANGLE_BUCKET == 0

# An edge: (start, end, length, direction in radians, start angle, end angle).
Edge = tuple[int, int, float, float, int, int]


def _cell_key(cx: int, cy: int) -> int:
    return (cx + _GRID_OFFSET) << 16 | (cy + _GRID_OFFSET)


def _edge_key(length_bucket: int, start_bucket: int, end_bucket: int) -> int:
    return (length_bucket << 16) | (start_bucket % _ANGLE_BUCKETS) << 8 | (
        end_bucket % _ANGLE_BUCKETS)


def _buckets(value: float, width: float) -> tuple[int, int]:
    """A value's own bucket and the neighbour on the side of the half it lies in."""
    own = int(value // width)
    return own, own - 1 if value - own * width < width / 2 else own + 1


@dataclass(frozen=True, slots=True)
class Prepared:
    """A template's minutiae and local edges, laid out for fast matching."""

    xs: tuple[int, ...]
    ys: tuple[int, ...]
    angles: tuple[int, ...]
    directed: tuple[Edge, ...]              # each edge both ways: what a live template offers
    edge_table: dict[int, list[Edge]]       # start < end, filed by bucket: what a chip offers
    grid: dict[int, list[int]]              # minutia indices by cell

    @property
    def count(self) -> int:
        return len(self.xs)


def _linked(xs: tuple[int, ...], ys: tuple[int, ...]) -> list[tuple[int, int]]:
    """Undirected edges (i < j) between each minutia and its nearest neighbours in range."""
    low, high = EDGE_MIN * EDGE_MIN, EDGE_MAX * EDGE_MAX
    indexed = list(enumerate(zip(xs, ys)))
    linked: set[tuple[int, int]] = set()
    for i, (xi, yi) in indexed:
        near = sorted([(d2, j) for j, (x, y) in indexed
                       if low <= (d2 := (x - xi) ** 2 + (y - yi) ** 2) <= high and j != i])
        for _, j in near[:EDGE_NEIGHBOURS]:
            linked.add((i, j) if i < j else (j, i))
    return sorted(linked)


def _edge(xs: tuple[int, ...], ys: tuple[int, ...], angles: tuple[int, ...],
          i: int, j: int) -> Edge:
    dx, dy = xs[j] - xs[i], ys[j] - ys[i]
    direction = math.atan2(dy, dx)
    units = round(direction * ANGLE_UNITS / TURN) % ANGLE_UNITS
    return (i, j, math.sqrt(dx * dx + dy * dy), direction,
            (angles[i] - units) % ANGLE_UNITS, (angles[j] - units) % ANGLE_UNITS)


def prepare(template: FingerTemplate) -> Prepared:
    """Lay a template out for matching, as live or chip template; reuse it across matches."""
    return _prepare(template, live=True, chip=True)


def _prepare(template: FingerTemplate, *, live: bool, chip: bool) -> Prepared:
    xs = tuple(m.x for m in template.minutiae)
    ys = tuple(m.y for m in template.minutiae)
    angles = tuple(m.angle for m in template.minutiae)
    linked = _linked(xs, ys)
    directed: list[Edge] = []
    table: dict[int, list[Edge]] = {}
    grid: dict[int, list[int]] = {}
    if live:
        for i, j in linked:
            directed.append(_edge(xs, ys, angles, i, j))
            directed.append(_edge(xs, ys, angles, j, i))
    if chip:
        for i, j in linked:
            e = _edge(xs, ys, angles, i, j)
            for lb in _buckets(e[2], _LENGTH_BUCKET):
                for sb in _buckets(e[4], _ANGLE_BUCKET):
                    for eb in _buckets(e[5], _ANGLE_BUCKET):
                        table.setdefault(_edge_key(lb, sb, eb), []).append(e)
        for j in range(len(xs)):
            cx, cy = int(xs[j] // _CELL), int(ys[j] // _CELL)
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    grid.setdefault(_cell_key(cx + dx, cy + dy), []).append(j)
    return Prepared(xs, ys, angles, tuple(directed), table, grid)


def _correspondences(probe: Prepared, gallery: Prepared) -> list[tuple[float, Edge, Edge]]:
    """As reference.correspondences: every corresponding edge pair, best first."""
    table = gallery.edge_table
    gap = _GAP
    found = []
    for e in probe.directed:
        candidates = table.get(_edge_key(int(e[2] // _LENGTH_BUCKET),
                                         e[4] // _ANGLE_BUCKET, e[5] // _ANGLE_BUCKET))
        if not candidates:
            continue
        for f in candidates:
            length_gap = abs(e[2] - f[2])
            start_gap = gap[(e[4] - f[4]) % ANGLE_UNITS]
            end_gap = gap[(e[5] - f[5]) % ANGLE_UNITS]
            if (length_gap <= EDGE_LENGTH_TOLERANCE and start_gap <= EDGE_ANGLE_TOLERANCE
                    and end_gap <= EDGE_ANGLE_TOLERANCE
                    and gap[round((f[3] - e[3]) * ANGLE_UNITS / TURN) % ANGLE_UNITS]
                    <= MAX_ROTATION):
                distance = (length_gap / EDGE_LENGTH_TOLERANCE
                            + (start_gap + end_gap) / EDGE_ANGLE_TOLERANCE)
                found.append((distance, e, f))
    found.sort(key=lambda c: (c[0], c[1][0], c[1][1], c[2][0], c[2][1]))
    return found


def _pairs_under(probe: Prepared, gallery: Prepared, e: Edge, f: Edge, beat: int) -> int:
    """As reference.pairs_under; returns at most `beat` as soon as it cannot exceed it."""
    theta = f[3] - e[3]
    c, s = math.cos(theta), math.sin(theta)
    turn = round(theta * ANGLE_UNITS / TURN) % ANGLE_UNITS
    pxs, pys, pangles = probe.xs, probe.ys, probe.angles
    gxs, gys, gangles = gallery.xs, gallery.ys, gallery.angles
    mx, my = (pxs[e[0]] + pxs[e[1]]) / 2.0, (pys[e[0]] + pys[e[1]]) / 2.0
    gx, gy = (gxs[f[0]] + gxs[f[1]]) / 2.0, (gys[f[0]] + gys[f[1]]) / 2.0
    grid, gap = gallery.grid, _GAP
    possible = []
    with_partner = 0
    n = len(pxs)
    for i in range(n):
        # The count can only reach the probe minutiae that found a partner.
        if with_partner + n - i <= beat:
            return beat
        px, py = pxs[i], pys[i]
        x = c * (px - mx) - s * (py - my) + gx
        y = s * (px - mx) + c * (py - my) + gy
        near = grid.get(_cell_key(int(x // _CELL), int(y // _CELL)))
        if not near:
            continue
        angle = (pangles[i] + turn) % ANGLE_UNITS
        found = False
        for j in near:
            d2 = (x - gxs[j]) * (x - gxs[j]) + (y - gys[j]) * (y - gys[j])
            a_gap = gap[(angle - gangles[j]) % ANGLE_UNITS]
            if d2 <= _PAIR_D2 and a_gap <= PAIR_ANGLE:
                possible.append((d2, a_gap, i, j))
                found = True
        with_partner += found
    if with_partner <= beat:
        return beat
    possible.sort()
    used_probe: set[int] = set()
    used_gallery: set[int] = set()
    for _, _, i, j in possible:
        if i not in used_probe and j not in used_gallery:
            used_probe.add(i)
            used_gallery.add(j)
    return len(used_probe)


def match_score(probe: FingerTemplate | Prepared, gallery: FingerTemplate | Prepared) -> float:
    """Similarity of a live template (probe) to the chip's (gallery), 0 to 100.

    Either may be given already `prepare`d; a chip template usually is.
    """
    p = probe if isinstance(probe, Prepared) else _prepare(probe, live=True, chip=False)
    g = gallery if isinstance(gallery, Prepared) else _prepare(gallery, live=False, chip=True)
    n, total = p.count, g.count
    if not n or not total:
        return 0.0
    most = min(n, total)
    best = 0
    for _, e, f in _correspondences(p, g)[:CANDIDATE_ALIGNMENTS]:
        best = max(best, _pairs_under(p, g, e, f, best))
        if best == most:
            break
    return 100.0 * best * best / (n * total)
