"""Blocking hub questions asked off the GUI thread, newest request first.

``LatestFetcher`` runs one fetch at a time on its own ``QThreadPool`` thread. A request made
while one is in flight replaces any request still waiting (newest wins: dragging a slider across
200 frames makes at most two fetches wait on the hub, not 200); when the fetch in flight ends,
the waiting one starts. Every answer is delivered on the GUI thread through ``done(key, result,
current)``: ``result`` is the fetch's return value or the exception it raised, and ``current``
says whether ``key`` is still the newest request (a stale answer is for a cache, not the screen).

``FrameCache`` is a small LRU of decoded frames, so scrubbing back over frames just seen costs
no fetch.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Hashable

from PyQt6.QtCore import QObject, QRunnable, QThreadPool, pyqtSignal


class _Job(QRunnable):
    def __init__(self, fetcher: LatestFetcher, key: Hashable, fn: Callable[[], object]):
        super().__init__()
        self.fetcher, self.key, self.fn = fetcher, key, fn

    def run(self) -> None:  # worker thread
        try:
            result = self.fn()
        except Exception as e:  # delivered, never raised on a pool thread
            result = e
        try:
            self.fetcher.finished.emit(self.key, result)
        except RuntimeError:  # the window closed while this fetch ran: nobody is waiting
            pass


class LatestFetcher(QObject):
    """See the module docstring. GUI thread only, except the fetch functions themselves."""

    done = pyqtSignal(object, object, bool)
    """(key, result or exception, key is still the newest request)."""
    finished = pyqtSignal(object, object)
    """Internal: a job ended (emitted on the worker thread, delivered queued)."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.wanted: Hashable | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self.started = 0
        self._pending: tuple[Hashable, Callable[[], object]] | None = None
        self.finished.connect(self._on_finished)

    @property
    def busy(self) -> bool:
        return self.in_flight > 0 or self._pending is not None

    def request(self, key: Hashable, fn: Callable[[], object]) -> None:
        """Fetch ``fn()`` for ``key`` off the GUI thread; replaces any request not started yet."""
        self.wanted = key
        if self.in_flight:
            self._pending = (key, fn)
        else:
            self._start(key, fn)

    def forget(self) -> None:
        """Drop the waiting request; an answer in flight will arrive as not current."""
        self._pending, self.wanted = None, None

    def _start(self, key: Hashable, fn: Callable[[], object]) -> None:
        self.in_flight += 1
        self.started += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.pool.start(_Job(self, key, fn))

    def _on_finished(self, key: Hashable, result: object) -> None:
        self.in_flight -= 1
        if self._pending is not None:
            nxt, self._pending = self._pending, None
            self._start(*nxt)
        self.done.emit(key, result, key == self.wanted)

    def close(self, timeout_ms: int = 3000) -> None:
        """Drop what waits and wait for the fetch in flight (it ends within its own timeout)."""
        self._pending = None
        self.pool.waitForDone(timeout_ms)


class FrameCache:
    """Least-recently-used map of a few decoded frames."""

    def __init__(self, size: int = 48):
        self.size = size
        self._items: collections.OrderedDict = collections.OrderedDict()

    def get(self, key: Hashable):
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: Hashable, item) -> None:
        self._items[key] = item
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()
