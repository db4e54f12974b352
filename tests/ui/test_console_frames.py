"""Frames on the wall: decoding off the GUI thread, woken by arrivals, and JPEG sizes."""

import numpy as np
import pytest
import simplejpeg

from lwd_operator.robot.camera import encode_jpeg
from ui.console.frames import decode_jpeg

WAIT = 60_000


def test_threaded_decoder_shows_frames_as_they_arrive(qtbot, make_robot, make_console):
    """The console as operators run it (decoder thread, no sync decode): frames reach the tile
    through the decoder's bell, with no polling of the client."""
    win = make_console(sync_decode=False)
    rang = []
    win.bell.ready.connect(lambda: rang.append(1))
    make_robot("r1", policy="hold", camera="synthetic", camera_fps=10.0, max_episode_steps=10**6)
    qtbot.waitUntil(lambda: "r1" in win.wall.tiles, timeout=WAIT)
    tile = win.wall.tiles["r1"]
    ages = []
    tile.on_shown = lambda age, stages: ages.append((age, stages))
    qtbot.waitUntil(lambda: len(ages) >= 5, timeout=WAIT)
    assert rang, "frames reached the tile without the decoder's bell"
    assert win.decoder.decoded >= tile.shown
    # capture -> paint on one machine's clock, and its stages add up to it
    assert all(0 <= a < 30 and abs(sum(st) - a) < 1e-3 for a, st in ages)
    cam = tile.cameras[0]
    _msg, jpeg, _t = win.client.latest_frames[("r1", cam)]
    h, w = simplejpeg.decode_jpeg_header(jpeg)[:2]
    assert (tile.frames[cam].image.width(), tile.frames[cam].image.height()) == (w, h)


@pytest.mark.parametrize(("shape", "expect"), [((120, 160), (160, 120)), ((480, 640), (640, 480)),
                                                ((960, 1280), (480, 360)), ((1440, 2560), (640, 360))])
def test_decode_jpeg_scales_large_frames_while_decoding(shape, expect):
    """Frames up to 1.5x the wanted size keep theirs; larger ones come out near it, aspect kept."""
    rng = np.random.default_rng(0)
    img = decode_jpeg(encode_jpeg(rng.integers(0, 255, (*shape, 3), dtype=np.uint8)), (480, 360))
    assert (img.width(), img.height()) == expect


def test_decode_jpeg_refuses_garbage_with_an_error():
    with pytest.raises(ValueError):
        decode_jpeg(b"\xff\xd8 not a jpeg", (480, 360))
