"""Progress bars that stay readable in a pipe.

On a terminal this is tqdm's bar. In a pipe or a log file tqdm would write carriage returns
(one overwritten line per update, a single multi-kilobyte line in the log); there the same bar
writes a plain line at most every ``PIPE_INTERVAL_S`` seconds and one at the end.
"""

from __future__ import annotations

import sys

PIPE_INTERVAL_S = 10.0
"""Seconds between progress lines when the output is not a terminal."""


class _Lines:
    """A file for tqdm that turns its carriage-return redraws into whole lines."""

    def __init__(self, out):
        self.out = out

    def write(self, s: str) -> None:
        s = s.replace("\r", "").replace("\x1b[A", "")
        if s.strip():
            self.out.write(s.rstrip("\n") + "\n")

    def flush(self) -> None:
        self.out.flush()


def progress(iterable=None, *, total: int | None = None, desc: str = "", unit: str = "it",
             enabled: bool = True, file=None):
    """A tqdm bar over ``iterable`` (or of ``total`` steps), writing to ``file`` (stderr)."""
    from tqdm import tqdm

    out = sys.stderr if file is None else file
    tty = hasattr(out, "isatty") and out.isatty()
    kw = {} if tty else {"file": _Lines(out), "mininterval": PIPE_INTERVAL_S, "ncols": 80, "ascii": True}
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=tty, **kw)
