"""Rate limits, log throttling and replay checks: what keeps one peer from drowning the rest.

All classes here are single-threaded (owned by the hub loop) and bounded in memory: per-peer
state is kept for at most ``max_peers`` peers, the least recently used forgotten first.
"""

from __future__ import annotations

import collections
import logging
import time


class TokenBucket:
    """``rate`` events per second on average, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: float, now: float | None = None):
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.t = time.monotonic() if now is None else now

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class PeerBuckets:
    """One ``TokenBucket`` per peer key; ``allow(peer)`` is False when that peer is over its rate."""

    def __init__(self, rate: float, burst: float, max_peers: int = 4096):
        self.rate, self.burst, self.max_peers = rate, burst, max_peers
        self._buckets: collections.OrderedDict = collections.OrderedDict()
        self.limited = collections.Counter()
        """peer -> events refused for being over the rate."""

    def allow(self, peer, now: float | None = None) -> bool:
        b = self._buckets.get(peer)
        if b is None:
            b = self._buckets[peer] = TokenBucket(self.rate, self.burst, now)
            if len(self._buckets) > self.max_peers:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(peer)
        ok = b.take(now)
        if not ok:
            self.limited[peer] += 1
        return ok


class LogThrottle:
    """Logs at most ``per_window`` lines per key per ``window_s``; then one line saying how many
    similar lines were suppressed. Keys are e.g. (sender's key name, reason code)."""

    def __init__(self, logger: logging.Logger, per_window: int = 10, window_s: float = 10.0,
                 max_keys: int = 4096):
        self.log, self.per_window, self.window_s, self.max_keys = logger, per_window, window_s, max_keys
        self._state: dict = {}
        self.suppressed = 0
        """Lines not written, in total."""

    def __call__(self, level: int, key, fmt: str, *args) -> None:
        now = time.monotonic()
        start, count, dropped = self._state.get(key, (now, 0, 0))
        if now - start >= self.window_s:
            if dropped:
                self.log.log(level, "%s: %d similar lines suppressed in %.0f s", key, dropped, now - start)
            start, count, dropped = now, 0, 0
        if count < self.per_window:
            self.log.log(level, fmt, *args)
            count += 1
        else:
            dropped += 1
            self.suppressed += 1
        if key not in self._state and len(self._state) >= self.max_keys:
            self._state.clear()
        self._state[key] = (start, count, dropped)


class SequenceGuard:
    """Drops replays and rewinds: per sender (key name + session), sequence numbers must grow.

    The session comes from the sender's hello (a restarted process has a new one and starts
    again from 1); the state outlives the connection, so a reconnecting peer cannot rewind.
    """

    def __init__(self, max_senders: int = 8192):
        self.max_senders = max_senders
        self._last: collections.OrderedDict = collections.OrderedDict()
        self.dropped = 0

    def accept(self, sender, seq: int) -> bool:
        last = self._last.get(sender)
        if last is not None and seq <= last:
            self.dropped += 1
            return False
        self._last[sender] = seq
        self._last.move_to_end(sender)
        if len(self._last) > self.max_senders:
            self._last.popitem(last=False)
        return True
