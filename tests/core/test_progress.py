"""Progress bars in a pipe: whole lines, no carriage returns (a log stays readable)."""

import io

from lwd_core.progress import progress


def test_bar_in_a_pipe_writes_whole_lines_only():
    out = io.StringIO()
    assert sum(progress(range(300), desc="train", unit="step", file=out)) == sum(range(300))
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert lines and lines[-1].startswith("train: 100%") and "300/300" in lines[-1]
    assert all(len(line) <= 80 for line in lines)


def test_disabled_bar_writes_nothing():
    out = io.StringIO()
    assert list(progress([1, 2], enabled=False, file=out)) == [1, 2]
    assert out.getvalue() == ""
