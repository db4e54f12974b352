"""Episode store: SQLite index + append-only chunk files under ``recordings/``."""

from lwd_core.store.chunk_files import StoreError
from lwd_core.store.episode_reader import FrameSeq
from lwd_core.store.episode_store import AppendResult, EpisodeStore

__all__ = ["AppendResult", "EpisodeStore", "FrameSeq", "StoreError"]
