"""The robot's journal of StepBatches the hub has not yet acknowledged as durable.

The robot adds every batch it sends; a ``StepAck(episode_id, durable_until)`` from the hub
releases every batch of that episode that ends at or below ``durable_until``; after a reconnect
(or an ack timeout) the robot resends ``pending()`` in order. The hub's store is idempotent on
(episode, step), so resending too much is harmless.

Overflow policy (the journal is bounded in bytes so a long hub outage cannot exhaust the
robot's memory): when a new batch does not fit, the *new* batch is refused, counted per episode
and reported once per episode through ``on_overflow``; the oldest unacknowledged batches are
kept. Why the newest: the store reads an episode as its contiguous prefix from step 0, so
keeping the oldest steps keeps the most readable data (dropping the oldest would make every
later step of the episode unreadable), and an episode with refused steps is visibly short
(``dropped_steps``) instead of silently holed. Nothing is ever dropped without a report.

Thread-safety: all methods may be called from any thread (one lock).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

from lwd_core.protocol.messages import StepBatch

DEFAULT_MAX_BYTES = 64 << 20
"""64 MiB: about two hours of a 20 Hz robot with a 40-float state (no frames are journaled)."""


class StepJournal:
    """Bounded, ordered store of unacknowledged ``(StepBatch, blobs)``; see the module doc."""

    def __init__(
        self,
        max_bytes: int = DEFAULT_MAX_BYTES,
        on_overflow: Callable[[str], None] | None = None,
    ):
        self.max_bytes = max_bytes
        self.on_overflow = on_overflow or (lambda text: None)
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, int], tuple[StepBatch, list[bytes], int]] = (
            OrderedDict()
        )
        self._bytes = 0
        self.dropped_steps: dict[str, int] = {}
        """episode -> steps refused because the journal was full."""

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def add(self, batch: StepBatch, blobs: Sequence[bytes]) -> bool:
        """Keep ``batch`` until acked; False (and a report) when refused for lack of room."""
        size = sum(len(b) for b in blobs) + 256
        with self._lock:
            key = (batch.episode_id, batch.first_step)
            if key in self._items:
                return True  # the same batch added twice: one copy is enough
            if self._bytes + size > self.max_bytes:
                first = batch.episode_id not in self.dropped_steps
                self.dropped_steps[batch.episode_id] = (
                    self.dropped_steps.get(batch.episode_id, 0) + batch.n
                )
                text = (
                    f"step journal full ({self._bytes} of {self.max_bytes} bytes): "
                    f"episode {batch.episode_id} loses steps from {batch.first_step} "
                    "until the hub acknowledges older ones"
                )
            else:
                self._items[key] = (batch, [bytes(b) for b in blobs], size)
                self._bytes += size
                return True
        if first:
            self.on_overflow(text)
        return False

    def ack(self, episode_id: str, durable_until: int) -> int:
        """Release this episode's batches ending at or before ``durable_until``; returns count."""
        with self._lock:
            done = [
                k
                for k, (b, _, _) in self._items.items()
                if b.episode_id == episode_id and b.first_step + b.n <= durable_until
            ]
            for k in done:
                self._bytes -= self._items.pop(k)[2]
        return len(done)

    def pending(self) -> list[tuple[StepBatch, list[bytes]]]:
        """Unacknowledged batches in the order they were added (resend in this order)."""
        with self._lock:
            return [(b, list(blobs)) for b, blobs, _ in self._items.values()]

    def forget_episode(self, episode_id: str) -> int:
        """Drop an episode's batches on purpose (e.g. the operator discarded it); returns count."""
        with self._lock:
            keys = [k for k in self._items if k[0] == episode_id]
            for k in keys:
                self._bytes -= self._items.pop(k)[2]
        return len(keys)
