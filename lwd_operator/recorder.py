"""The hub's episode recorder: network submissions in, durable chunks and StepAcks out.

Submission never blocks the caller (the hub's socket loop): items go onto a queue and a writer
thread does the I/O. Each write cycle gathers what arrived in ``flush_interval_s``, merges
consecutive batches of an episode into one chunk and commits them all at once, so the cost of
fsync is shared by every robot and the write rate grows with load.

Guarantees:
- A ``StepAck`` is queued for ``poll_acks`` only after its steps are durable in the store.
- Order per robot is kept: an episode's steps are written before its ``ended`` event is applied.
- A store failure (full disk, unwritable directory) is reported through ``on_error`` once per
  distinct message and the batch is retried every ``retry_s``; nothing is acked that is not
  stored, so the robot's journal still holds it.
- A label's ``done`` callback runs only after the label is committed (or with the reason it
  failed): whoever says "labelled" to an operator says it after ``done(None)``.
- Frames are best effort: they are buffered up to ``frame_flush_s`` and dropped (with an alert)
  past ``max_frame_bytes``; steps are never dropped.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from lwd_core.protocol.codec import ProtocolError, blob_arrays
from lwd_core.protocol.messages import (
    EpisodeEvent,
    Frame,
    LabelEpisode,
    Msg,
    StepAck,
    StepBatch,
)
from lwd_core.store import EpisodeStore, StoreError

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RecorderConfig:
    flush_interval_s: float = 0.05
    """How long the writer gathers submissions before one write cycle (batching for fsync)."""
    frame_flush_s: float = 1.0
    """Frames of a camera are written as one chunk at most this long after the first arrived."""
    max_frame_bytes: int = 256 << 20
    """Buffered JPEG bytes above which new frames are dropped (and reported) instead of queued."""
    retry_s: float = 1.0
    """Delay before retrying steps the store refused (full disk, unwritable directory)."""


@dataclasses.dataclass
class _Steps:
    batch: StepBatch
    arrays: dict[str, np.ndarray]


@dataclasses.dataclass
class _FrameBuf:
    first_t: float
    seqs: list[int] = dataclasses.field(default_factory=list)
    ts: list[int] = dataclasses.field(default_factory=list)
    jpegs: list[bytes] = dataclasses.field(default_factory=list)


class Recorder:
    """Feeds an ``EpisodeStore`` from hub submissions; see the module docstring.

    ``synchronous=True`` does each submission's I/O in the caller's thread (tests, tools).
    """

    def __init__(
        self,
        store: EpisodeStore,
        config: RecorderConfig = RecorderConfig(),
        *,
        on_error: Callable[[str], None] | None = None,
        on_gap: Callable[[str, str, int, int], None] | None = None,
        synchronous: bool = False,
    ):
        self.store = store
        self.config = config
        self.on_error = on_error or (lambda text: log.error("recorder: %s", text))
        self.on_gap = on_gap or (
            lambda r, e, a, b: log.warning("recorder: %s/%s missing steps [%d, %d)", r, e, a, b)
        )
        self.synchronous = synchronous
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._acks: list[tuple[str, StepAck]] = []
        self._acks_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._current: dict[str, str] = {}
        """robot -> episode being recorded (for frames from robots that send no episode id)."""
        self._known: collections.OrderedDict[str, str] = collections.OrderedDict()
        """Episodes begun here, newest last (robot by episode): a frame names its own episode,
        and one that arrives just after its episode ended is still filed with it."""
        self._frames: dict[tuple[str, str, str], _FrameBuf] = {}
        self._frame_bytes = 0
        self._frames_dropped = 0
        self._retry: list[_Steps] = []
        self._to_compact: list[str] = []
        self._retry_at = 0.0
        self._last_error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = {"steps": 0, "duplicates": 0, "frames": 0, "frames_dropped": 0, "cycles": 0}
        if not synchronous:
            self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
            self._thread.start()

    # --- submission (any thread, never blocks) ----------------------------------------------

    def submit_episode_event(
        self, ev: EpisodeEvent, *, operator: str = "", instruction: str = ""
    ) -> None:
        """``operator``: who drove the robot during the episode (for intervention rows)."""
        self._submit(("event", ev, operator, instruction))

    def submit_steps(self, batch: StepBatch, arrays: dict[str, np.ndarray]) -> None:
        """``arrays``: ``codec.blob_arrays(batch.blobs, blobs)`` (state, action, source, ...)."""
        self._submit(("steps", _Steps(batch, arrays)))

    def submit_frame(self, frame: Frame, jpeg: bytes) -> None:
        self._submit(("frame", frame, jpeg))

    def label(self, episode_id: str, outcome: str, by: str, note: str = "",
              done: Callable[[str | None], None] | None = None) -> None:
        """Queue a label change (audited); applied after earlier submissions.

        ``done(None)`` is called (in the writer thread) once the label is committed, or
        ``done(reason)`` if it was refused (unknown episode, bad outcome, store error).
        """
        self._submit(("label", episode_id, outcome, by, note, done))

    def submit_message(self, msg: Msg, blobs: Sequence[bytes] = (), *, by: str = "") -> bool:
        """Route a decoded wire message (as ``codec.decode`` returns it); False if not ours.

        ``StepBatch`` blobs become arrays (``ProtocolError`` if they do not match the header),
        a ``Frame``'s JPEG is blob 0, a ``LabelEpisode`` is recorded as given by ``by`` (the
        client's operator name, which the hub knows from its hello).
        """
        if isinstance(msg, StepBatch):
            self.submit_steps(msg, blob_arrays(msg.blobs, blobs))
        elif isinstance(msg, Frame):
            if not blobs:
                raise ProtocolError("frame without its JPEG blob")
            self.submit_frame(msg, blobs[0])
        elif isinstance(msg, EpisodeEvent):
            self.submit_episode_event(msg)
        elif isinstance(msg, LabelEpisode):
            self.label(msg.episode_id, msg.outcome, by or msg.sender or "unknown", msg.note)
        else:
            return False
        return True

    def poll_acks(self) -> list[tuple[str, StepAck]]:
        """``(robot_id, StepAck)`` for everything that became durable since the last poll."""
        with self._acks_lock:
            out, self._acks = self._acks, []
        return out

    def backlog(self) -> int:
        """Submissions waiting for the writer (a growing number means the disk is too slow)."""
        return self._q.qsize()

    def flush(self) -> None:
        """Synchronous mode: write buffered frames now (threaded mode: ``stop`` does this)."""
        if self.synchronous:
            with self._sync_lock:
                self._flush_frames(force=True)

    def alive(self) -> bool:
        """False when the writer thread ended without being stopped (the hub restarts it)."""
        return self._thread is None or self._stop.is_set() or self._thread.is_alive()

    def restart(self) -> None:
        """Start a new writer thread (after ``alive()`` said the old one died)."""
        if self._thread is not None and not self._stop.is_set() and not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write everything submitted so far, buffered frames included, then stop the writer."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout)
            self._thread = None
        else:
            self.flush()

    def _submit(self, item: tuple) -> None:
        if self.synchronous:
            with self._sync_lock:
                self._process([item])
        else:
            self._q.put(item)

    # --- writer -----------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            items = []
            try:
                items.append(self._q.get(timeout=self.config.flush_interval_s))
                deadline = time.monotonic() + self.config.flush_interval_s
                while time.monotonic() < deadline:
                    try:
                        items.append(self._q.get(timeout=max(0.0, deadline - time.monotonic())))
                    except queue.Empty:
                        break
            except queue.Empty:
                pass
            while True:  # take whatever else is already queued: larger, cheaper cycles
                try:
                    items.append(self._q.get_nowait())
                except queue.Empty:
                    break
            stopping = self._stop.is_set()
            try:
                self._process(items)
                self._flush_frames(force=stopping)
                while self._to_compact and (stopping or self._q.empty()):
                    self.store.compact(self._to_compact.pop(0))
                    if not stopping:
                        break  # one per idle cycle: new submissions come first
            except Exception as e:  # the writer must survive anything; the error is an alert
                self._report(f"recorder failure: {e.__class__.__name__}: {e}")
            if stopping and self._q.empty():
                return

    def _process(self, items: list[tuple]) -> None:
        self.stats["cycles"] += 1
        pending: list[_Steps] = []
        if self._retry and time.monotonic() >= self._retry_at:
            pending, self._retry = self._retry, []
        for item in items:
            kind = item[0]
            if kind == "steps":
                problem = _invalid(item[1])
                if problem:  # one malformed batch must not hold back everyone else's
                    self._report(problem)
                    continue
                pending.append(item[1])
                b = item[1].batch
                self._current.setdefault(b.robot_id, b.episode_id)
                self._known.setdefault(b.episode_id, b.robot_id)
            elif kind == "frame":
                self._buffer_frame(item[1], item[2])
            elif kind == "event":
                ev = item[1]
                self._write_steps([p for p in pending if p.batch.episode_id == ev.episode_id])
                pending = [p for p in pending if p.batch.episode_id != ev.episode_id]
                self._apply_event(ev, item[2], item[3])
            elif kind == "label":
                error = self._attempt(lambda it=item: self.store.label(it[1], it[2], it[3], it[4]))
                if len(item) > 5 and item[5] is not None:
                    item[5](error)
        self._write_steps(pending)

    def _apply_event(self, ev: EpisodeEvent, operator: str, instruction: str) -> None:
        if ev.event == "started":
            self._current[ev.robot_id] = ev.episode_id
            self._known[ev.episode_id] = ev.robot_id
            while len(self._known) > 4096:
                self._known.popitem(last=False)
            self._guard(
                lambda: self.store.begin_episode(
                    ev.robot_id,
                    ev.episode_id,
                    ev.task,
                    instruction=instruction,
                    clock_offset_ns=ev.clock_offset_ns,
                )
            )
        else:
            self._flush_frames(force=True, episode_id=ev.episode_id)
            if self._current.get(ev.robot_id) == ev.episode_id:
                del self._current[ev.robot_id]
            # Compaction waits for an idle moment (see _run): a fleet's episodes often end
            # together, and merging them inline would delay everyone's acks.
            ok = self._guard(
                lambda: self.store.end_episode(
                    ev.episode_id,
                    status="aborted" if ev.reason == "aborted" else "ended",
                    reason=ev.reason,
                    steps=ev.steps or None,
                    operator=operator,
                    compact=self.synchronous,
                )
            )
            if ok and not self.synchronous:
                self._to_compact.append(ev.episode_id)

    def _write_steps(self, pending: list[_Steps]) -> None:
        if not pending:
            return
        merged = _merge(pending)
        items = [
            (
                m.batch.robot_id,
                m.batch.episode_id,
                m.batch.first_step,
                m.arrays,
                m.arrays.get("final_state"),
                "",
            )
            for m in merged
        ]
        try:
            results = self.store.append_steps_many(items)
        except StoreError as e:
            results = getattr(e, "partial", [])
            done = {r.episode_id for r in results}
            self._retry.extend(m for m in merged if m.batch.episode_id not in done)
            self._retry_at = time.monotonic() + self.config.retry_s
            self._report(str(e))
        else:
            if self._last_error:
                log.info("recorder: store writable again")
            self._last_error = ""
        robots = {m.batch.episode_id: m.batch.robot_id for m in merged}
        with self._acks_lock:
            for r in results:
                self._acks.append(
                    (
                        robots[r.episode_id],
                        StepAck(episode_id=r.episode_id, durable_until=r.durable_until),
                    )
                )
        for r in results:
            self.stats["steps"] += r.written
            self.stats["duplicates"] += r.duplicates
            if r.gap:
                self.on_gap(robots[r.episode_id], r.episode_id, *r.gap)

    def _buffer_frame(self, frame: Frame, jpeg: bytes) -> None:
        # The frame's own episode id, not "the robot's current episode": frames travel on another
        # socket than episode events, so near a boundary the two orders differ.
        ep = frame.episode_id or self._current.get(frame.robot_id)
        if ep is None or (frame.episode_id and self._known.get(ep) != frame.robot_id):
            return  # between episodes, or an episode this recorder never began
        if self._frame_bytes + len(jpeg) > self.config.max_frame_bytes:
            self._frames_dropped += 1
            self.stats["frames_dropped"] += 1
            if self._frames_dropped == 1 or self._frames_dropped % 1000 == 0:
                self._report(f"frame buffer full: {self._frames_dropped} frames dropped")
            return
        buf = self._frames.setdefault(
            (frame.robot_id, ep, frame.camera), _FrameBuf(time.monotonic())
        )
        buf.seqs.append(frame.frame_seq)
        buf.ts.append(frame.t_capture_ns)
        buf.jpegs.append(bytes(jpeg))
        self._frame_bytes += len(jpeg)

    def _flush_frames(self, force: bool = False, episode_id: str | None = None) -> None:
        now = time.monotonic()
        for key in list(self._frames):
            robot, ep, cam = key
            buf = self._frames[key]
            if episode_id is not None and ep != episode_id:
                continue
            if not force and now - buf.first_t < self.config.frame_flush_s:
                continue
            del self._frames[key]
            self._frame_bytes -= sum(len(j) for j in buf.jpegs)
            if self._guard(
                lambda b=buf, r=robot, e=ep, c=cam: self.store.append_frames(
                    r, e, c, b.seqs, b.ts, b.jpegs
                )
            ):
                self.stats["frames"] += len(buf.jpegs)

    def _guard(self, fn: Callable[[], object]) -> bool:
        return self._attempt(fn) is None

    def _attempt(self, fn: Callable[[], object]) -> str | None:
        """Run a store operation; None when done, else the reason (also reported)."""
        try:
            fn()
            return None
        except (StoreError, KeyError, ValueError) as e:
            self._report(str(e))
            return str(e)

    def _report(self, text: str) -> None:
        if text != self._last_error:
            self._last_error = text
            self.on_error(text)


_STEP_KEYS = ("state", "action", "source", "policy_version", "t_ns")


def _invalid(s: _Steps) -> str | None:
    """Why a batch cannot be stored (missing array, wrong row count), or None."""
    b = s.batch
    where = f"step batch {b.robot_id}/{b.episode_id}@{b.first_step}"
    if b.first_step < 0 or b.n <= 0:
        return f"{where}: bad range first_step={b.first_step} n={b.n}"
    for k in _STEP_KEYS:
        if k not in s.arrays:
            return f"{where}: missing array {k!r}"
        a = np.asarray(s.arrays[k])
        if a.ndim < 1 or len(a) != b.n:
            return f"{where}: {k} has shape {a.shape}, expected {b.n} rows"
    for k in ("state", "action"):
        a = np.asarray(s.arrays[k])
        if a.ndim != 2:
            return f"{where}: {k} must be 2-D"
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            return f"{where}: {k} has non-finite values"
    if "final_state" in s.arrays:
        f = np.asarray(s.arrays["final_state"])
        if f.dtype.kind == "f" and not np.isfinite(f).all():
            return f"{where}: final_state has non-finite values"
    return None


def _merge(pending: list[_Steps]) -> list[_Steps]:
    """Concatenate consecutive batches of the same episode (one chunk, one fsync)."""
    by_ep: dict[str, list[_Steps]] = {}
    for p in pending:
        by_ep.setdefault(p.batch.episode_id, []).append(p)
    out = []
    for group in by_ep.values():
        group.sort(key=lambda p: p.batch.first_step)
        run = [group[0]]
        for p in group[1:]:
            last = run[-1].batch
            if (
                p.batch.first_step == last.first_step + last.n
                and "final_state" not in run[-1].arrays
            ):
                run.append(p)
            else:
                out.append(_concat(run))
                run = [p]
        out.append(_concat(run))
    return out


def _concat(run: list[_Steps]) -> _Steps:
    if len(run) == 1:
        return run[0]
    first = run[0].batch
    keys = ("state", "action", "source", "policy_version", "t_ns")
    arrays = {k: np.concatenate([np.asarray(p.arrays[k]) for p in run]) for k in keys}
    if "final_state" in run[-1].arrays:
        arrays["final_state"] = run[-1].arrays["final_state"]
    batch = StepBatch(
        robot_id=first.robot_id,
        episode_id=first.episode_id,
        first_step=first.first_step,
        n=sum(p.batch.n for p in run),
        blobs=[],
        closes_episode=run[-1].batch.closes_episode,
    )
    return _Steps(batch, arrays)


def open_recorder(recordings) -> Recorder:
    """The episode recorder over the store in ``recordings``.

    Opening the store reconciles it: episodes interrupted by a crash are closed as aborted.
    """
    return Recorder(EpisodeStore(recordings))
