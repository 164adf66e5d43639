"""The minutiae matcher, written plainly: the definition the fast matcher must agree with.

This is the test oracle (tests/unit/test_fingerprint.py asserts that `matcher.match_score`
gives exactly this score); production code calls the fast matcher in matcher.py.

The algorithm, in five steps:

1. Local edges. In each template, every minutia is joined to its `EDGE_NEIGHBOURS`
   nearest others whose distance is within [EDGE_MIN, EDGE_MAX]. An edge keeps its length,
   its direction, and the direction of each end minutia relative to the edge; the last
   two do not change when the finger turns or moves, so they can be compared across
   templates before any alignment.
2. Corresponding edges. A live (probe) edge, taken in both directions, corresponds to a
   chip (gallery) edge when their lengths and both relative directions agree within
   tolerances and the rotation between them is at most `MAX_ROTATION`. Each is ranked by
   how far apart they are (ties by minutia indices).
3. Alignments. The best `CANDIDATE_ALIGNMENTS` correspondences each give a rigid
   alignment: the rotation between the two edge directions, about the edge midpoints,
   which it lays on top of each other.
4. Pairing. Under an alignment, a live minutia and a chip minutia can pair when they lie
   within `PAIR_DISTANCE` pixels and their directions within `PAIR_ANGLE`. Possible pairs
   are taken nearest first (ties: angle difference, then indices), each minutia at most
   once, so the count is a one-to-one pairing.
5. Score. With m the most pairs any alignment gives, and n, N the minutiae counts,
   score = 100 * m * m / (n * N), from 0 to 100. Minutia types are not compared: a
   capture often sees an ending as a bifurcation.
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
from nikgate.fingerprint.template import FingerTemplate, Minutia

TURN = 2.0 * math.pi


@dataclass(frozen=True)
class Edge:
    """A directed edge from minutia `start` to minutia `end` of one template."""

    start: int
    end: int
    length: float
    direction: float        # radians, atan2(dy, dx) in image coordinates
    start_angle: int        # the start minutia's direction relative to the edge, in units
    end_angle: int


def angle_difference(a: int, b: int) -> int:
    """The smaller way round between two directions, in angle units (0..128)."""
    d = (a - b) % ANGLE_UNITS
    return min(d, ANGLE_UNITS - d)


def to_units(radians: float) -> int:
    """A direction in radians as whole angle units, 0..255."""
    return round(radians * ANGLE_UNITS / TURN) % ANGLE_UNITS


def edge(minutiae: tuple[Minutia, ...], i: int, j: int) -> Edge:
    """The edge from minutia i to minutia j."""
    a, b = minutiae[i], minutiae[j]
    dx, dy = b.x - a.x, b.y - a.y
    direction = math.atan2(dy, dx)
    units = to_units(direction)
    return Edge(i, j, math.sqrt(dx * dx + dy * dy), direction,
                (a.angle - units) % ANGLE_UNITS, (b.angle - units) % ANGLE_UNITS)


def neighbours(minutiae: tuple[Minutia, ...], i: int) -> list[int]:
    """The up to EDGE_NEIGHBOURS nearest minutiae to i within the edge length range."""
    a = minutiae[i]
    near = []
    for j, b in enumerate(minutiae):
        d2 = (b.x - a.x) ** 2 + (b.y - a.y) ** 2
        if j != i and EDGE_MIN * EDGE_MIN <= d2 <= EDGE_MAX * EDGE_MAX:
            near.append((d2, j))
    near.sort()
    return [j for _, j in near[:EDGE_NEIGHBOURS]]


def edges(minutiae: tuple[Minutia, ...]) -> list[tuple[int, int]]:
    """Undirected edges (i < j): j is among i's neighbours or i among j's."""
    linked = set()
    for i in range(len(minutiae)):
        for j in neighbours(minutiae, i):
            linked.add((min(i, j), max(i, j)))
    return sorted(linked)


def correspondences(probe: tuple[Minutia, ...],
                    gallery: tuple[Minutia, ...]) -> list[tuple[float, Edge, Edge]]:
    """Every corresponding (probe edge, gallery edge), best first, with its distance."""
    probe_edges = []
    for i, j in edges(probe):
        probe_edges += [edge(probe, i, j), edge(probe, j, i)]
    gallery_edges = [edge(gallery, i, j) for i, j in edges(gallery)]
    found = []
    for e in probe_edges:
        for f in gallery_edges:
            length_gap = abs(e.length - f.length)
            start_gap = angle_difference(e.start_angle, f.start_angle)
            end_gap = angle_difference(e.end_angle, f.end_angle)
            rotation = angle_difference(to_units(f.direction - e.direction), 0)
            if (length_gap <= EDGE_LENGTH_TOLERANCE and start_gap <= EDGE_ANGLE_TOLERANCE
                    and end_gap <= EDGE_ANGLE_TOLERANCE and rotation <= MAX_ROTATION):
                distance = (length_gap / EDGE_LENGTH_TOLERANCE
                            + (start_gap + end_gap) / EDGE_ANGLE_TOLERANCE)
                found.append((distance, e, f))
    found.sort(key=lambda c: (c[0], c[1].start, c[1].end, c[2].start, c[2].end))
    return found


def pairs_under(probe: tuple[Minutia, ...], gallery: tuple[Minutia, ...],
                e: Edge, f: Edge) -> int:
    """How many one-to-one pairs the alignment that lays edge e on edge f gives."""
    theta = f.direction - e.direction
    c, s = math.cos(theta), math.sin(theta)
    turn = to_units(theta)
    pe, qe = probe[e.start], probe[e.end]
    pf, qf = gallery[f.start], gallery[f.end]
    mx, my = (pe.x + qe.x) / 2.0, (pe.y + qe.y) / 2.0
    gx, gy = (pf.x + qf.x) / 2.0, (pf.y + qf.y) / 2.0
    possible = []
    for i, p in enumerate(probe):
        x = c * (p.x - mx) - s * (p.y - my) + gx
        y = s * (p.x - mx) + c * (p.y - my) + gy
        angle = (p.angle + turn) % ANGLE_UNITS
        for j, g in enumerate(gallery):
            d2 = (x - g.x) * (x - g.x) + (y - g.y) * (y - g.y)
            gap = angle_difference(angle, g.angle)
            if d2 <= PAIR_DISTANCE * PAIR_DISTANCE and gap <= PAIR_ANGLE:
                possible.append((d2, gap, i, j))
    possible.sort()
    used_probe: set[int] = set()
    used_gallery: set[int] = set()
    for _, _, i, j in possible:
        if i not in used_probe and j not in used_gallery:
            used_probe.add(i)
            used_gallery.add(j)
    return len(used_probe)


def match_score(probe: FingerTemplate, gallery: FingerTemplate) -> float:
    """Similarity of a live template (probe) to the chip's (gallery), 0 to 100."""
    p, g = probe.minutiae, gallery.minutiae
    if not p or not g:
        return 0.0
    best = 0
    for _, e, f in correspondences(p, g)[:CANDIDATE_ALIGNMENTS]:
        best = max(best, pairs_under(p, g, e, f))
    return 100.0 * best * best / (len(p) * len(g))
