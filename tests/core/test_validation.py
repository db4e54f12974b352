"""Decoding that cannot crash: structure limits, field ranges and overflow-safe blob sizes."""

import math

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwd_core.protocol import ProtocolError, blob_arrays, decode, encode
from lwd_core.protocol.messages import (
    BlobSpec,
    Heartbeat,
    LabelEpisode,
    StepBatch,
    Subscribe,
    Take,
    Teleop,
)
from lwd_core.protocol.validation import MAX_CONTAINER, MAX_DEPTH, id_problem, scan_structure


def _with_extra(extra: bytes) -> bytes:
    head = msgspec.msgpack.encode({"kind": "heartbeat", "proto": [1, 0], "seq": 1, "x": 0})
    return head[:-1] + extra


@pytest.mark.parametrize("depth", [MAX_DEPTH, 100, 1000, 100_000])
def test_deep_nesting_is_refused_before_decoding(depth):
    with pytest.raises(ProtocolError) as e:
        decode([_with_extra(b"\x91" * depth + b"\xc0")])
    assert e.value.code in ("too_deep", "too_large")


@pytest.mark.parametrize("extra", [
    b"\xdc" + (MAX_CONTAINER + 1).to_bytes(2, "big") + b"\x00" * (MAX_CONTAINER + 1),  # too long
    b"\xdd\xff\xff\xff\xff",  # claims 4 billion elements, has none
    b"\xdf\x7f\xff\xff\xff\x00\x00",  # a map that lies about its size
    b"\xc6\xff\xff\xff\xff",  # bin32 longer than the message
    b"\xc1",  # never-used byte
])
def test_wide_or_lying_containers_are_refused(extra):
    with pytest.raises(ProtocolError):
        decode([_with_extra(extra)])


def test_ordinary_headers_pass_the_scan():
    assert scan_structure(_with_extra(b"\x93\x01\x02\x03")) is None
    msg, _ = decode([_with_extra(b"\x93\x01\x02\x03")])
    assert isinstance(msg, Heartbeat)


@given(st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats() | st.text(max_size=5)
                    | st.binary(max_size=5), lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=3), c,
                                                                                                  max_size=4),
                    max_leaves=30))
@settings(max_examples=300, deadline=None)
def test_scan_agrees_with_msgpack_on_valid_values(value):
    raw = msgspec.msgpack.encode(value)
    problem = scan_structure(raw)
    assert problem is None or "nesting" in problem
    for cut in range(len(raw) - 1, max(len(raw) - 4, 0), -1):  # truncations never pass silently
        assert scan_structure(raw[:cut]) is not None


@pytest.mark.parametrize("shape", [(2**32, 2**32), (0, 2**62), (2**31, 2**31, 4), (-1,), (1,) * 9, (3, 5)])
def test_blob_shapes_are_checked_without_overflow(shape):
    msg = StepBatch(robot_id="r", episode_id="e", first_step=0, n=1, blobs=[BlobSpec("state", "float32", shape)])
    m, blobs = decode(encode(msg, [b""]))
    with pytest.raises(ProtocolError):
        blob_arrays(m.blobs, blobs)


def test_valid_blobs_still_decode():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    msg = StepBatch(robot_id="r", episode_id="e", first_step=0, n=2, blobs=[BlobSpec("state", "float32", (2, 3))])
    m, blobs = decode(encode(msg, [a]))
    np.testing.assert_array_equal(blob_arrays(m.blobs, blobs)["state"], a)


@pytest.mark.parametrize("msg", [
    Teleop(robot_id="r", dpos=(math.nan, 0, 0), gripper=0),
    Teleop(robot_id="r", dpos=(0, 0, 0), gripper=math.inf),
    Subscribe(hz=math.nan),
    Take(robot_id=".."),
    Take(robot_id="a/b"),
    Take(robot_id="x" * 200),
    LabelEpisode(robot_id="r", episode_id="../../etc", outcome="success"),
    LabelEpisode(robot_id="r", episode_id="e", outcome="success", note="\x1b[2J"),
    Heartbeat(seq=2**63),
])
def test_out_of_range_fields_are_refused(msg):
    with pytest.raises(ProtocolError) as e:
        decode(encode(msg))
    assert e.value.code == "bad_field"


@pytest.mark.parametrize("good", ["r1", "sim-0", "r1-1a2b-3", "", "Zoë"])
def test_ordinary_ids_pass(good):
    assert id_problem(good) is None


@pytest.mark.parametrize("bad", ["..", ".", ".x", "a/b", "a\\b", "a..b", "x\x00", " x", "x" * 129])
def test_hostile_ids_fail(bad):
    assert id_problem(bad) is not None
