"""Snapshots of every TUI screen at 80x24 and 160x48 with deterministic content (sample fleet,
fixed clocks, UTC). Update after an intended change with ``pytest --snapshot-update``."""

import os
import time

import pytest

from tests.ui.sample_app import sample_app

SIZES = [(80, 24), (160, 48)]
SCREENS = {"fleet": [], "episodes": ["2"], "learning": ["3"], "help": ["question_mark"]}


@pytest.fixture(autouse=True)
def utc():
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(snap_compare, screen, size):
    assert snap_compare(sample_app(), press=SCREENS[screen], terminal_size=size)
