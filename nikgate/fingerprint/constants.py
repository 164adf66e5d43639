"""Every number the fingerprint package shares: template bounds, matcher tolerances, policy.

The card-reader client reads `DEFAULT_THRESHOLD` and `MAX_ATTEMPTS` from here; the
reference and the fast matcher read the tolerances from here, so they cannot drift apart.
The threshold was measured with `python -m bench.fingerprint_det` (docs/fingerprint.md):
change a tolerance and the threshold must be measured again.
"""

from __future__ import annotations

# -- Policy (what the card reader uses) --------------------------------------------------

#: Scores at or above this are a match. Chosen at FMR <= 0.01% on the synthetic set.
DEFAULT_THRESHOLD = 12.0
#: Live captures tried per card per session before the card is refused.
MAX_ATTEMPTS = 4

# -- Template bounds (decoding refuses anything outside them) ----------------------------

#: Most minutiae one finger view may carry (ISO/IEC 19794-2 allows up to 255).
MAX_MINUTIAE = 128
#: Largest record accepted: header 24 + view header 4 + 6 per minutia + extended length 2.
MAX_TEMPLATE_BYTES = 24 + 4 + 6 * MAX_MINUTIAE + 2
#: Largest image side, in pixels (14 bits are available for a coordinate).
MAX_IMAGE_SIDE = 2048

# -- Matcher tolerances (both implementations) -------------------------------------------

#: Angles are stored in 256ths of a turn (1.40625 degrees), as ISO/IEC 19794-2 does.
ANGLE_UNITS = 256
#: Two aligned minutiae pair up when their positions are this close (pixels at 500 dpi) ...
PAIR_DISTANCE = 14.0
#: ... and their directions differ by at most this many angle units (about 25 degrees).
PAIR_ANGLE = 18
#: Local edges (minutia to minutia) used for alignment are this long, in pixels.
EDGE_MIN = 20.0
EDGE_MAX = 110.0
#: Each minutia contributes edges to at most this many nearest neighbours.
EDGE_NEIGHBOURS = 6
#: Two edges correspond when their lengths differ by at most this many pixels ...
EDGE_LENGTH_TOLERANCE = 8.0
#: ... and each end's direction relative to the edge differs by at most this (angle units).
EDGE_ANGLE_TOLERANCE = 16
#: Alignments rotating more than this many angle units are not tried (about 45 degrees).
MAX_ROTATION = 32
#: How many corresponding edges (best first) are tried as alignments.
CANDIDATE_ALIGNMENTS = 24
