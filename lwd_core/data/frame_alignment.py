"""Which camera frame belongs to which step: the one alignment rule every reader uses.

Steps (``t_ns``) and frames (``t_capture_ns``) of a robot are stamped with the same clock, the
robot's monotonic clock (wall time for display is ``t_ns`` plus the episode's
``clock_offset_ns``). Cameras run at their own rate, slower than control, so a step shows
the **latest frame captured at or before it**, held until the next frame arrives: the
"sample and hold" that LeRobot users expect from a video at the step rate.

A step has a frame (``has_frame``) only when that frame is at most ``tolerance_ns`` old. A
step before the camera's first frame, or after the camera stalled for longer than the
tolerance, has none: readers flag it ("no frame") and never invent an image for it. Where a
reader must still put *some* image in a slot (a video needs one per step) it uses
``index`` (the nearest real frame: the held one, or the first frame for steps before it) and
the flag says the image is not this step's.

Default tolerance: 1 s, three frame periods at the default 3 fps camera rate; a camera that
loses two frames in a row still counts as delivering, one that delivered nothing for a second
does not.
"""

from __future__ import annotations

import dataclasses

import numpy as np

DEFAULT_TOLERANCE_NS = 1_000_000_000
"""Oldest frame (ns before the step) that still counts as the step's frame."""


@dataclasses.dataclass(frozen=True)
class Alignment:
    """Per step of an episode, for one camera (arrays of length n_steps)."""

    index: np.ndarray
    """int64: frame shown at the step (latest at or before it; the first frame for steps
    before any); -1 only when the camera has no frame at all."""
    age_ns: np.ndarray
    """int64: step time minus the shown frame's capture time (negative: the frame is later
    than the step); 0 where ``index`` is -1."""
    has_frame: np.ndarray
    """bool: the shown frame was captured at most ``tolerance_ns`` before the step."""

    @property
    def coverage(self) -> float:
        """Share of steps that have a frame."""
        return float(self.has_frame.mean()) if len(self.has_frame) else 0.0


def align_frames(
    frame_t_ns: np.ndarray,
    step_t_ns: np.ndarray,
    tolerance_ns: int = DEFAULT_TOLERANCE_NS,
) -> Alignment:
    """Align one camera's frames (capture times, ascending) to an episode's steps.

    Guarantees: ``index`` is non-decreasing; a frame is never shown at a step earlier than its
    capture unless the step precedes every frame (then ``has_frame`` is False); the result
    depends only on the two time arrays.
    """
    ft = np.asarray(frame_t_ns, np.int64)
    st = np.asarray(step_t_ns, np.int64)
    n = len(st)
    if len(ft) == 0:
        return Alignment(np.full(n, -1, np.int64), np.zeros(n, np.int64), np.zeros(n, bool))
    if len(ft) > 1 and (np.diff(ft) < 0).any():
        raise ValueError("frame times must be in capture order")
    index = np.clip(np.searchsorted(ft, st, side="right") - 1, 0, len(ft) - 1).astype(np.int64)
    age = st - ft[index]
    has = (age >= 0) & (age <= int(tolerance_ns))
    return Alignment(index, age, has)
