import msgspec
import numpy as np
import pytest

from lwd_core.protocol import ProtocolError, Sequencer, array_blob, blob_arrays, decode, encode
from lwd_core.protocol.codec import MAX_HEADER_BYTES
from lwd_core.protocol.messages import ANY_MESSAGE, PROTO, Frame, StepBatch, Teleop


def test_every_message_kind_has_a_unique_tag():
    tags = [t.__struct_config__.tag for t in ANY_MESSAGE.__args__]
    assert len(tags) == len(set(tags))


def test_round_trip_with_envelope_and_array_blobs():
    seq = Sequencer("robot-7")
    state = np.arange(12, dtype=np.float32).reshape(3, 4)
    spec, arr = array_blob("state", state)
    msg = seq.stamp(StepBatch(robot_id="robot-7", episode_id="e1", first_step=10, n=3, blobs=[spec]))
    frames = encode(msg, [arr])
    assert len(frames) == 2 and frames[1] == state.tobytes()  # blobs travel outside the header
    out, blobs = decode(frames)
    assert out == msg and out.proto == PROTO and out.sender == "robot-7" and out.seq == 1
    np.testing.assert_array_equal(blob_arrays(out.blobs, blobs)["state"], state)


def test_incompatible_major_version_is_refused_with_reason():
    raw = msgspec.msgpack.encode({"proto": [PROTO[0] + 1, 0], "kind": "teleop"})
    with pytest.raises(ProtocolError, match="incompatible"):
        decode([raw])


def test_newer_minor_with_unknown_fields_is_accepted():
    d = msgspec.to_builtins(Teleop(robot_id="r", dpos=(0.0, 0.0, 0.01), gripper=0.0))
    d["proto"] = [PROTO[0], PROTO[1] + 3]
    d["future_field"] = 42
    msg, _ = decode([msgspec.msgpack.encode(d)])
    assert isinstance(msg, Teleop) and msg.dpos == (0.0, 0.0, 0.01)


@pytest.mark.parametrize(
    "frames, reason",
    [
        ([], "empty"),
        ([b"\xc1garbage"], "bad envelope"),
        ([msgspec.msgpack.encode({"proto": [1, 0], "kind": "nope"})], "unknown message kind"),
        ([msgspec.msgpack.encode({"proto": [1, 0], "kind": "teleop", "robot_id": 5})], "bad teleop"),
        ([b"\x80" * (MAX_HEADER_BYTES + 1)], "exceeds"),
    ],
)
def test_malformed_messages_are_rejected_with_a_reason(frames, reason):
    with pytest.raises(ProtocolError, match=reason):
        decode(frames)


def test_blob_size_and_dtype_are_checked():
    spec, arr = array_blob("a", np.zeros((2, 3), np.float32))
    with pytest.raises(ProtocolError, match="expected 24"):
        blob_arrays([spec], [arr.tobytes()[:-1]])
    with pytest.raises(ProtocolError, match="2 blobs"):
        blob_arrays([spec, spec], [arr.tobytes()])
    bad = msgspec.structs.replace(spec, dtype="object")
    with pytest.raises(ProtocolError, match="not allowed"):
        blob_arrays([bad], [b""])


def test_frame_header_carries_no_pixels():
    f = Frame(robot_id="r", camera="c", width=96, height=96, encoding="jpeg", frame_seq=1, t_capture_ns=5)
    frames = encode(f, [b"\xff\xd8jpeg"])
    assert b"jpeg" not in frames[0][-8:] and frames[1] == b"\xff\xd8jpeg"
