"""Wire protocol: typed messages (``messages``) and the multipart codec (``codec``)."""

from lwd_core.protocol.codec import (
    ProtocolError,
    Sequencer,
    array_blob,
    blob_arrays,
    check_version,
    decode,
    encode,
)
from lwd_core.protocol.messages import PROTO, PROTO_MAJOR, PROTO_MINOR

__all__ = [
    "PROTO",
    "PROTO_MAJOR",
    "PROTO_MINOR",
    "ProtocolError",
    "Sequencer",
    "array_blob",
    "blob_arrays",
    "check_version",
    "decode",
    "encode",
]
