"""Finger minutiae templates in the style of ISO/IEC 19794-2, and their bytes on the chip.

A KTP-el chip holds one template per EF (6FF4 right index, 6FF5 left index). The record is
a 19794-2:2005-style finger minutiae record with one finger view, all integers big-endian:

    offset size  field
    0      4     format identifier  b"FMR\\0"
    4      4     version            b" 20\\0"
    8      4     record length      the whole record, in bytes
    12     2     capture equipment  4 bits certification flags, 12 bits device type (0)
    14     2     image width        pixels
    16     2     image height       pixels
    18     2     x resolution       pixels per centimetre (197 = 500 dpi)
    20     2     y resolution       pixels per centimetre
    22     1     finger views       always 1 here
    23     1     reserved           0
    24     1     finger position    ISO code (2 right index, 7 left index, ...)
    25     1     view / impression  4 bits view number, 4 bits impression type
    26     1     finger quality     0-100
    27     1     minutiae count     n
    28     6n    minutiae           2 bits type + 14 bits x, 2 bits 0 + 14 bits y,
                                    1 byte angle (256ths of a turn), 1 byte quality (0-100)
    28+6n  2     extended data      length of extended data blocks, always 0 here

`decode_template` refuses anything over `MAX_TEMPLATE_BYTES` before reading it and checks
every field, raising InvalidInputError with what was wrong.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from nikgate.errors import InvalidInputError
from nikgate.fingerprint.constants import (
    ANGLE_UNITS,
    MAX_IMAGE_SIDE,
    MAX_MINUTIAE,
    MAX_TEMPLATE_BYTES,
)

FORMAT_ID = b"FMR\x00"
VERSION = b" 20\x00"

# Minutia types (the two top bits of the x word).
OTHER = 0
ENDING = 1
BIFURCATION = 2
KIND_NAMES = {OTHER: "other", ENDING: "ending", BIFURCATION: "bifurcation"}

# ISO finger position codes; the KTP-el keeps the two index fingers.
UNKNOWN_FINGER = 0
RIGHT_THUMB, RIGHT_INDEX, RIGHT_MIDDLE, RIGHT_RING, RIGHT_LITTLE = 1, 2, 3, 4, 5
LEFT_THUMB, LEFT_INDEX, LEFT_MIDDLE, LEFT_RING, LEFT_LITTLE = 6, 7, 8, 9, 10
FINGER_NAMES = {
    0: "unknown", 1: "right thumb", 2: "right index", 3: "right middle", 4: "right ring",
    5: "right little", 6: "left thumb", 7: "left index", 8: "left middle", 9: "left ring",
    10: "left little",
}
#: The chip's EF for each finger it stores.
FINGER_EF = {RIGHT_INDEX: 0x6FF4, LEFT_INDEX: 0x6FF5}

RESOLUTION_500_DPI = 197                     # pixels per centimetre

_HEADER = struct.Struct(">4s4sIHHHHHBB")     # 24 bytes
_VIEW = struct.Struct(">BBBB")               # 4 bytes
_MINUTIA = struct.Struct(">HHBB")            # 6 bytes
_EXTENDED = struct.Struct(">H")              # 2 bytes
_FIXED = _HEADER.size + _VIEW.size + _EXTENDED.size


@dataclass(frozen=True, slots=True)
class Minutia:
    """One ridge ending or bifurcation: position in pixels, direction in 256ths of a turn."""

    kind: int
    x: int
    y: int
    angle: int
    quality: int = 60


@dataclass(frozen=True, slots=True)
class FingerTemplate:
    """The minutiae of one finger view, with the image geometry they were found in."""

    finger: int
    width: int
    height: int
    minutiae: tuple[Minutia, ...]
    resolution: int = RESOLUTION_500_DPI
    quality: int = 60
    impression: int = 0                      # 0 live-scan plain, as a reader captures

    def __post_init__(self) -> None:
        _check_template(self)


def _fail(message: str) -> InvalidInputError:
    return InvalidInputError(message, field="template")


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise _fail(f"fingerprint template {name} must be {low}..{high}, got {value}")


def _check_template(t: FingerTemplate) -> None:
    _check_range("finger position", t.finger, 0, 10)
    _check_range("image width", t.width, 1, MAX_IMAGE_SIDE)
    _check_range("image height", t.height, 1, MAX_IMAGE_SIDE)
    _check_range("resolution", t.resolution, 1, 0xFFFF)
    _check_range("quality", t.quality, 0, 100)
    _check_range("impression type", t.impression, 0, 15)
    if len(t.minutiae) > MAX_MINUTIAE:
        raise _fail(f"a fingerprint template holds at most {MAX_MINUTIAE} minutiae, "
                    f"got {len(t.minutiae)}")
    for number, m in enumerate(t.minutiae, 1):
        if m.kind not in KIND_NAMES:
            raise _fail(f"minutia {number} has type {m.kind}; "
                        "types are 0 other, 1 ending, 2 bifurcation")
        if not (0 <= m.x < t.width and 0 <= m.y < t.height):
            raise _fail(f"minutia {number} at ({m.x}, {m.y}) lies outside the "
                        f"{t.width}x{t.height} image")
        _check_range(f"minutia {number} angle", m.angle, 0, ANGLE_UNITS - 1)
        _check_range(f"minutia {number} quality", m.quality, 0, 100)


def template_size(minutiae: int) -> int:
    """Bytes in an encoded template with this many minutiae."""
    return _FIXED + _MINUTIA.size * minutiae


def encode_template(template: FingerTemplate) -> bytes:
    """The record's bytes, as the chip's EF stores them."""
    n = len(template.minutiae)
    parts = [
        _HEADER.pack(FORMAT_ID, VERSION, template_size(n), 0, template.width,
                     template.height, template.resolution, template.resolution, 1, 0),
        _VIEW.pack(template.finger, template.impression, template.quality, n),
    ]
    parts.extend(_MINUTIA.pack(m.kind << 14 | m.x, m.y, m.angle, m.quality)
                 for m in template.minutiae)
    parts.append(_EXTENDED.pack(0))
    return b"".join(parts)


def decode_template(data: bytes | bytearray | memoryview) -> FingerTemplate:
    """Parse a record made by `encode_template` (or a reader that follows the same layout).

    Raises InvalidInputError naming the first thing wrong: too long (checked before
    anything is read), too short, wrong format or version, a length field that disagrees
    with the bytes, more than one finger view, a minutia outside the image, and so on.
    """
    size = len(data)
    if size > MAX_TEMPLATE_BYTES:
        raise _fail(f"fingerprint template is {size} bytes, over the {MAX_TEMPLATE_BYTES}-byte "
                    f"bound ({MAX_MINUTIAE} minutiae); refuse it, it is not a finger record")
    if size < _FIXED:
        raise _fail(f"fingerprint template is {size} bytes, shorter than the {_FIXED}-byte "
                    "minimum: the read was cut short or the file is not a finger record")
    raw = bytes(data)
    (fmt, version, length, _equipment, width, height, xres, yres,
     views, _reserved) = _HEADER.unpack_from(raw, 0)
    if fmt != FORMAT_ID:
        raise _fail(f"fingerprint template must start with {FORMAT_ID!r}, got {fmt!r}")
    if version != VERSION:
        raise _fail(f"fingerprint template version must be {VERSION!r}, got {version!r}")
    if length != size:
        raise _fail(f"fingerprint template says it is {length} bytes but {size} were read")
    if views != 1:
        raise _fail(f"fingerprint template must hold exactly 1 finger view, got {views}")
    if xres != yres:
        raise _fail(f"fingerprint template resolutions differ (x {xres}, y {yres} px/cm); "
                    "only square pixels are supported")
    finger, view_impression, quality, count = _VIEW.unpack_from(raw, _HEADER.size)
    if size != template_size(count):
        raise _fail(f"fingerprint template declares {count} minutiae, which take "
                    f"{template_size(count)} bytes, but it is {size} bytes")
    if view_impression >> 4:
        raise _fail(f"fingerprint template view number must be 0, got {view_impression >> 4}")
    minutiae = []
    offset = _HEADER.size + _VIEW.size
    for number in range(1, count + 1):
        xword, yword, angle, mquality = _MINUTIA.unpack_from(raw, offset)
        if yword >> 14:
            raise _fail(f"minutia {number} sets the reserved bits of its y coordinate")
        minutiae.append(Minutia(xword >> 14, xword & 0x3FFF, yword, angle, mquality))
        offset += _MINUTIA.size
    (extended,) = _EXTENDED.unpack_from(raw, offset)
    if extended:
        raise _fail(f"fingerprint template carries {extended} bytes of extended data; "
                    "none is expected")
    return FingerTemplate(finger=finger, width=width, height=height,
                          minutiae=tuple(minutiae), resolution=xres, quality=quality,
                          impression=view_impression & 0x0F)
