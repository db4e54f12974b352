"""Checks that run on every message before anyone trusts it: structure, then field ranges.

``scan_structure`` walks the msgpack bytes of a header without recursion and without building
anything, so a hostile peer cannot make the decoder recurse deeply or allocate a huge container:
nesting deeper than ``MAX_DEPTH``, a container longer than ``MAX_CONTAINER`` or more than
``MAX_ITEMS`` values in total is refused before decoding.

``field_problem`` checks a decoded message: every float finite, every string bounded and
printable, ids (robot, episode, camera) short, printable and free of path syntax (they name
files in the store), integers in range.
"""

from __future__ import annotations

import math

import msgspec

MAX_DEPTH = 8
"""Deepest nesting of arrays/maps in a header (ours use at most 4)."""
MAX_CONTAINER = 4096
"""Most elements in one array or map."""
MAX_ITEMS = 20_000
"""Most values in one header, all levels together."""
MAX_ID = 128
"""Longest robot, episode or camera id."""
MAX_TEXT = 4096
"""Longest free-text field (reasons, notes, alert texts)."""
MAX_INT = 2**62
"""Largest integer magnitude in any field (sequence numbers, steps, times)."""

ID_FIELDS = frozenset({"robot_id", "episode_id", "camera", "session"})

# msgpack lead byte -> number of bytes to skip after it (fixed-size scalars)
_FIXED = {0xC0: 0, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8,
          0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8, 0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17}
# lead byte -> width of the length field that follows (variable-size scalars)
_VAR = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}
_EXT = {0xC7: 1, 0xC8: 2, 0xC9: 4}


def scan_structure(raw: bytes) -> str | None:
    """Why ``raw`` (one msgpack value) is too deep, too wide or malformed; None if acceptable."""
    n = len(raw)
    pos = 0
    remaining = 1  # values still to read at the current level
    stack: list[int] = []
    items = 0
    while True:
        if remaining == 0:
            if not stack:
                break
            remaining = stack.pop()
            continue
        remaining -= 1
        if pos >= n:
            return "truncated msgpack"
        b = raw[pos]
        pos += 1
        count = -1  # container element count, or -1 for a scalar
        if b <= 0x7F or b >= 0xE0:
            continue
        if 0x80 <= b <= 0x8F:
            count = 2 * (b & 0x0F)
        elif 0x90 <= b <= 0x9F:
            count = b & 0x0F
        elif 0xA0 <= b <= 0xBF:
            pos += b & 0x1F
        elif b in _FIXED:
            pos += _FIXED[b]
        elif b in _VAR or b in _EXT:
            w = _VAR.get(b) or _EXT[b]
            if pos + w > n:
                return "truncated msgpack"
            size = int.from_bytes(raw[pos:pos + w], "big")
            pos += w + size + (1 if b in _EXT else 0)
        elif b in (0xDC, 0xDD, 0xDE, 0xDF):
            w = 2 if b in (0xDC, 0xDE) else 4
            if pos + w > n:
                return "truncated msgpack"
            count = int.from_bytes(raw[pos:pos + w], "big") * (2 if b >= 0xDE else 1)
            pos += w
        else:
            return f"invalid msgpack byte 0x{b:02x}"
        if count >= 0:
            if count > (2 * MAX_CONTAINER if (0x80 <= b <= 0x8F or b >= 0xDE) else MAX_CONTAINER):
                return f"container of {count} elements exceeds {MAX_CONTAINER}"
            items += count
            if items > MAX_ITEMS:
                return f"more than {MAX_ITEMS} values"
            if len(stack) >= MAX_DEPTH:
                return f"nesting deeper than {MAX_DEPTH}"
            stack.append(remaining)
            remaining = count
        if pos > n:
            return "truncated msgpack"
    return None


def id_problem(value: str, what: str = "id") -> str | None:
    """Why ``value`` cannot be a robot/episode/camera id (empty means "none" and is fine)."""
    if len(value) > MAX_ID:
        return f"{what} longer than {MAX_ID} characters"
    if value and (not value.isprintable() or "/" in value or "\\" in value or ".." in value
                  or value.startswith(".") or value.strip() != value):
        return f"{what} {value[:40]!r}: printable, no path separators, no '..', no leading dot"
    return None


def _value_problem(name: str, v, depth: int) -> str | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, float):
        return None if math.isfinite(v) else f"{name} is not finite"
    if isinstance(v, int):
        return None if -MAX_INT <= v <= MAX_INT else f"{name} out of range"
    if isinstance(v, str):
        if name in ID_FIELDS:
            return id_problem(v, name)
        if len(v) > MAX_TEXT:
            return f"{name} longer than {MAX_TEXT} characters"
        if not v.replace("\n", " ").replace("\t", " ").isprintable():
            return f"{name} has unprintable characters"
        return None
    if isinstance(v, (list, tuple)):
        for x in v:
            p = _value_problem(name, x, depth + 1)
            if p:
                return p
        return None
    if isinstance(v, dict):
        for k, x in v.items():
            p = _value_problem(name, k, depth + 1) or _value_problem(name, x, depth + 1)
            if p:
                return p
        return None
    if isinstance(v, msgspec.Struct) and depth < MAX_DEPTH:
        return field_problem(v, depth + 1)
    return None


def field_problem(msg: msgspec.Struct, depth: int = 0) -> str | None:
    """Why a decoded message's fields are out of range (see module docstring), or None."""
    for name in msg.__struct_fields__:
        p = _value_problem(name, getattr(msg, name), depth)
        if p:
            return p
    return None
