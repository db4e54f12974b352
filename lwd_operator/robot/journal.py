"""Robot-side journal of step batches the hub has not yet acknowledged as durable."""

from __future__ import annotations

import collections

from lwd_core.protocol.messages import StepBatch


class StepJournal:
    def __init__(self):
        self._batches: collections.OrderedDict[tuple[str, int], tuple[StepBatch, list[bytes]]] = collections.OrderedDict()

    def add(self, msg: StepBatch, blobs: list[bytes]) -> None:
        self._batches[(msg.episode_id, msg.first_step)] = (msg, blobs)

    def ack(self, episode_id: str, durable_until: int) -> None:
        for key in [k for k, (m, _) in self._batches.items() if k[0] == episode_id and m.first_step + m.n <= durable_until]:
            del self._batches[key]

    def pending(self) -> list[tuple[StepBatch, list[bytes]]]:
        return list(self._batches.values())

    def __len__(self) -> int:
        return len(self._batches)
