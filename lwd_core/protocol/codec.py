"""Encode and decode multipart messages; every rejection raises ``ProtocolError`` with a reason.

Decoding is two-stage on purpose: the envelope (``Header``) is read first so that a peer speaking
another major version, or an unknown kind, gets a precise reason instead of a schema error.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence

import msgspec
import numpy as np

from lwd_core.protocol.messages import ANY_MESSAGE, PROTO_MAJOR, BlobSpec, Header, Msg
from lwd_core.protocol.validation import field_problem, id_problem, scan_structure

MAX_HEADER_BYTES = 64 * 1024
"""Headers are small by design; anything bigger is malformed or hostile."""

MAX_BLOBS = 16
"""Most binary frames after one header."""
MAX_NDIM = 8
"""Most dimensions of one array blob."""

_ALLOWED_DTYPES = {"bytes", "float32", "float64", "int32", "int64", "uint8", "uint16", "bool"}

_header_decoder = msgspec.msgpack.Decoder(Header)
_msg_decoder = msgspec.msgpack.Decoder(ANY_MESSAGE)
_encoder = msgspec.msgpack.Encoder()
_KNOWN_KINDS = {t.__struct_config__.tag for t in ANY_MESSAGE.__args__}


class ProtocolError(ValueError):
    """A message was rejected; ``str(err)`` says why, for the log and for the peer.

    ``code`` is a stable category (for counters): empty, too_large, bad_envelope, version,
    unknown_kind, bad_message, bad_blob, too_deep, bad_field.
    """

    def __init__(self, reason: str, code: str = "bad_message", seq: int = 0):
        super().__init__(reason)
        self.code = code
        self.seq = seq
        """The message's sequence number when its envelope was readable (a refusal's corr)."""


class Sequencer:
    """Stamps the envelope of outgoing messages (sender, seq, monotonic time)."""

    def __init__(self, sender: str):
        self.sender = sender
        self._seq = itertools.count(1)

    def stamp(self, msg: Msg, corr: int = 0) -> Msg:
        msg.sender = self.sender
        msg.seq = next(self._seq)
        msg.t_mono_ns = time.monotonic_ns()
        if corr:
            msg.corr = corr
        return msg


def encode(msg: Msg, blobs: Sequence[bytes | memoryview | np.ndarray] = ()) -> list[bytes]:
    """Header + blob frames. Arrays are sent as their raw C-ordered bytes."""
    frames = [_encoder.encode(msg)]
    for b in blobs:
        if isinstance(b, np.ndarray):
            frames.append(np.ascontiguousarray(b).tobytes())
        else:
            frames.append(bytes(b))
    return frames


def decode(frames: Sequence[bytes]) -> tuple[Msg, list[bytes]]:
    """Validate and decode ``[header, *blobs]``; raises ``ProtocolError`` with a reason."""
    if not frames:
        raise ProtocolError("empty message", "empty")
    raw = frames[0]
    if len(raw) > MAX_HEADER_BYTES:
        raise ProtocolError(f"header of {len(raw)} bytes exceeds {MAX_HEADER_BYTES}", "too_large")
    if len(frames) > 1 + MAX_BLOBS:
        raise ProtocolError(f"{len(frames) - 1} blobs exceed {MAX_BLOBS}", "too_large")
    problem = scan_structure(raw)  # before any decoding: no recursion, no huge allocation
    if problem is not None:
        code = "bad_envelope" if problem.startswith(("truncated", "invalid")) else "too_deep"
        raise ProtocolError(f"bad envelope: {problem}", code)
    try:
        head = _header_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise ProtocolError(f"bad envelope: {e}", "bad_envelope") from None
    if head.proto[0] != PROTO_MAJOR:
        raise ProtocolError(
            f"protocol {head.proto[0]}.{head.proto[1]} is incompatible with {PROTO_MAJOR}.x", "version"
        )
    if head.kind not in _KNOWN_KINDS:
        raise ProtocolError(f"unknown message kind {head.kind[:40]!r}", "unknown_kind")
    try:
        msg = _msg_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise ProtocolError(f"bad {head.kind}: {e}", seq=head.seq) from None
    except RecursionError:  # belt and braces: the scan above already bounds nesting
        raise ProtocolError(f"bad {head.kind}: nested too deeply", "too_deep") from None
    problem = field_problem(msg)
    if problem is not None:
        raise ProtocolError(f"bad {head.kind}: {problem}", "bad_field", seq=head.seq)
    return msg, list(frames[1:])


def check_version(proto: tuple[int, int]) -> str | None:
    """Reason string when ``proto`` cannot talk to us, else None."""
    if proto[0] != PROTO_MAJOR:
        return f"protocol {proto[0]}.{proto[1]} is incompatible with {PROTO_MAJOR}.x"
    return None


def array_blob(name: str, arr: np.ndarray) -> tuple[BlobSpec, np.ndarray]:
    arr = np.ascontiguousarray(arr)
    return BlobSpec(name=name, dtype=str(arr.dtype), shape=tuple(arr.shape)), arr


def blob_arrays(specs: Sequence[BlobSpec], blobs: Sequence[bytes]) -> dict[str, np.ndarray]:
    """Turn described blobs back into arrays, checking count, dtype and byte size."""
    if len(specs) > MAX_BLOBS:
        raise ProtocolError(f"{len(specs)} blobs exceed {MAX_BLOBS}", "bad_blob")
    if len(specs) != len(blobs):
        raise ProtocolError(f"header describes {len(specs)} blobs, message has {len(blobs)}", "bad_blob")
    out: dict[str, np.ndarray | bytes] = {}
    for spec, blob in zip(specs, blobs, strict=True):
        problem = id_problem(spec.name, "blob name")
        if problem is not None:
            raise ProtocolError(problem, "bad_blob")
        if spec.dtype not in _ALLOWED_DTYPES:
            raise ProtocolError(f"blob {spec.name!r}: dtype {spec.dtype!r} not allowed", "bad_blob")
        if spec.dtype == "bytes":
            out[spec.name] = bytes(blob)
            continue
        if len(spec.shape) > MAX_NDIM or any(d < 0 or d > 2**31 for d in spec.shape):
            raise ProtocolError(f"blob {spec.name!r}: bad shape {spec.shape[:MAX_NDIM]}", "bad_blob")
        dt = np.dtype(spec.dtype)
        expected = dt.itemsize  # Python ints: no overflow, whatever the shape claims
        for d in spec.shape:
            expected *= d
            if expected > len(blob):
                break
        if expected != len(blob):
            raise ProtocolError(
                f"blob {spec.name!r}: {len(blob)} bytes, expected {expected} for {spec.shape}",
                "bad_blob",
            )
        out[spec.name] = np.frombuffer(blob, dtype=dt).reshape(spec.shape)
    return out
