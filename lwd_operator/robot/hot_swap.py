"""Policy hot-swap on a robot: download a version from the hub, verify it, load it beside the
running policy, and swap between two action chunks.

Guarantees:
- The control thread never waits: downloading, verifying, loading and a warm-up inference run in
  this module's worker thread; the control thread only swaps a reference at a chunk boundary
  (``next_chunk``), so a chunk is always produced whole by one version, and the node records
  every policy step with the version of the chunk it came from.
- Never an unverified policy: the weights' sha256 must equal the digest the hub recorded at
  publish time (sent in the ``PolicyOffer``) and meta.json's; the version, observation and
  action sizes and the robot's task must match; ``lwd_core.learning.snapshot.load`` then checks
  the config, tensor names and shapes; the warm-up chunk must have the right shape and be finite.
- A version that fails any check is refused with a reason: the robot keeps its current policy,
  shows the reason in its status (``policy_error``) and reports it (``PolicyReport`` ok=False),
  from which the hub raises a ``policy_load`` alert. A refused version is not tried again by
  this process.
- Newest offer wins: an offer for another version abandons a download in progress.
- Downloads are resumable: a stalled download asks again from the last byte received.
- At most ``build_slots`` robots of one machine build a version at once (``build_slots``
  module): the builds take turns instead of crowding the cores that the control loops need.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import logging
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable

import numpy as np

from lwd_core.protocol.messages import Msg, PolicyChunk, PolicyFetch, PolicyOffer, PolicyReport
from lwd_operator.hub.policy_store import MAX_SNAPSHOT_BYTES
from lwd_operator.robot.build_slots import build_slot
from lwd_operator.robot.policies import PolicyRunner, SnapshotPolicy
from lwd_operator.robot.threads import ask_short_slice

log = logging.getLogger("lwd.robot.hot_swap")

FETCH_BYTES = 512 * 1024
"""Bytes asked per ``PolicyFetch`` (the hub may send fewer)."""
WINDOW = 4
"""Fetches in flight at once (loopback or LAN: a few keep the pipe full)."""
STALL_S = 3.0
"""No piece for this long: ask again from the last byte received."""


SWAP_WORKER_SCHEDULING = "short slice, normal priority"
"""How the swap worker thread is scheduled. Not niced: it holds the GIL while it builds the
policy, and a niced GIL holder preempted by other processes keeps the control thread of its own
process waiting for the GIL (priority inversion: 31-111 ms jitter p99 during a 16-robot swap
with the worker at nice 10, 2026-12-01). A short slice makes it give the core back quickly."""


def preload_learning() -> None:
    """Import torch and the policy code now, and keep torch to one thread (idempotent).

    Importing torch holds the GIL for about a second (its C extension's start-up), long enough
    to stall a control loop; a robot that may receive learned versions does it before its loop
    starts (``NodeConfig.preload_torch``). One intra-op thread: a chunk of a small policy is
    faster on one thread than split across cores shared with the simulator and other robots.
    """
    global _preloaded
    with _preload_lock:
        if not _preloaded:
            _preload()
            _preloaded = True


def _preload() -> None:
    import torch

    from lwd_core.learning import snapshot
    from lwd_core.learning.agents import AGENTS

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    # Building an agent the first time imports much more (its optimisers pull in torch._dynamo
    # and sympy: seconds of imports); a throwaway one here pays for that outside the loop. Its
    # trip through a snapshot does the same for the loading path (safetensors, the policy
    # wrapper): the first real version then builds as fast as the next ones.
    for cls in AGENTS.values():
        ag = cls.create(obs_dim=2, action_dim=1, horizon=1, tasks=["t"], config=cls.config_class(hidden=8, z_dim=8))
        ag.sample_actions(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long))
        d = tempfile.mkdtemp(prefix="lwd-preload-")
        try:
            snapshot.save(ag, d, version=1)
            SnapshotPolicy(d).next_chunk(np.zeros(2, np.float32), "t")
        finally:
            shutil.rmtree(d, ignore_errors=True)


_preloaded = False
_preload_lock = threading.Lock()


class TickStats:
    """Control-period record shared by the control loop (writer) and the swapper (reader)."""

    def __init__(self, control_hz: float, fast: bool = False, keep: int = 6000):
        self.target = 1.0 / control_hz
        self.fast = fast
        self.count = 0
        self.missed = 0
        self._periods: collections.deque[float] = collections.deque(maxlen=keep)

    def add(self, period: float) -> None:
        """One tick's period. A period of n targets missed n - 1 ticks (rounded)."""
        self._periods.append(period)
        self.count += 1
        if not self.fast:
            self.missed += max(0, round(period / self.target) - 1)

    def jitter_p99_ms(self, start: int, end: int) -> float:
        """p99 of |period - target| over ticks [start, end) (indices in ``count`` terms)."""
        first = self.count - len(self._periods)
        lo, hi = max(start, first) - first, max(min(end, self.count), first) - first
        p = list(self._periods)[lo:hi]
        if not p or self.fast:
            return 0.0
        return float(np.percentile(np.abs(np.asarray(p) - self.target), 99) * 1000)


@dataclasses.dataclass(frozen=True)
class PolicySnapshot:
    """A verified, loaded version waiting in standby (or running)."""

    version: int
    digest: str
    runner: PolicyRunner
    offered_at: float
    """Monotonic time of the offer (for the report's ``load_ms``)."""
    tick_mark: int
    missed_mark: int
    phases_ms: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    """Offer to last byte, waiting for a build slot, building (wall), building (CPU)."""


def verify_and_load(meta_bytes: bytes, weights: bytes, offer: PolicyOffer, *, obs_dim: int,
                    action_dim: int, task: str, seed: int = 0) -> PolicyRunner:
    """Every check of the module docstring; raises ``ValueError`` with the reason."""
    digest = hashlib.sha256(weights).hexdigest()
    if digest != offer.sha256:
        raise ValueError(f"weights digest {digest[:12]}… does not match the published {offer.sha256[:12]}…")
    try:
        meta = json.loads(meta_bytes)
    except ValueError:
        raise ValueError("meta.json is not JSON") from None
    if not isinstance(meta, dict) or meta.get("sha256") != offer.sha256 or meta.get("version") != offer.version:
        raise ValueError("meta.json does not describe the offered version and digest")
    if (meta.get("obs_dim"), meta.get("action_dim")) != (obs_dim, action_dim):
        raise ValueError(f"shapes do not fit this robot: policy obs {meta.get('obs_dim')} / action "
                         f"{meta.get('action_dim')}, robot obs {obs_dim} / action {action_dim}")
    if task not in (meta.get("tasks") or []):
        raise ValueError(f"the policy knows tasks {meta.get('tasks')}, not this robot's {task!r}")
    preload_learning()
    d = tempfile.mkdtemp(prefix=f"lwd-policy-v{offer.version}-")
    try:
        with open(f"{d}/meta.json", "wb") as f:
            f.write(meta_bytes)
        with open(f"{d}/model.safetensors", "wb") as f:
            f.write(weights)
        runner = SnapshotPolicy(d, seed=seed)  # snapshot.load: digest, config, tensor shapes
    finally:
        shutil.rmtree(d, ignore_errors=True)
    chunk = np.asarray(runner.next_chunk(np.zeros(obs_dim, np.float32), task))  # warm-up
    if chunk.ndim != 2 or chunk.shape[1] != action_dim or not np.isfinite(chunk).all():
        raise ValueError(f"warm-up chunk has shape {chunk.shape} or non-finite values")
    return runner


class HotSwapPolicy(PolicyRunner):
    """Wraps the running policy; see the module docstring. ``on_message`` is called by the hub
    link thread for ``PolicyOffer`` / ``PolicyChunk`` (returns False for other messages)."""

    def __init__(self, initial: PolicyRunner, *, robot_id: str, obs_dim: int, action_dim: int,
                 task: Callable[[], str], post: Callable[[Msg], None], ticks: TickStats,
                 build_slots: int = 2):
        self.current = initial
        self.robot_id, self.obs_dim, self.action_dim = robot_id, obs_dim, action_dim
        self._task, self._post, self.ticks = task, post, ticks
        self.build_slots = build_slots
        self.error = ""
        self._standby: PolicySnapshot | None = None
        self._loading = 0
        self._pending_report: tuple[PolicySnapshot, int, int] | None = None
        self._refused: dict[int, str] = {}
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- PolicyRunner, on the control thread ------------------------------------------------------

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.current.name

    @property
    def version(self) -> int:  # type: ignore[override]
        return self.current.version

    @property
    def horizon(self) -> int:  # type: ignore[override]
        return self.current.horizon

    @property
    def digest(self) -> str:  # type: ignore[override]
        return self.current.digest

    @property
    def standby_version(self) -> int:
        s = self._standby
        return s.version if s is not None else self._loading

    def next_chunk(self, obs, task):
        """A chunk boundary: the only place where a standby version takes over."""
        if self._pending_report is not None:
            self._report_swap()
        s = self._standby
        if s is not None:
            self._standby = None
            previous, self.current = self.current.version, s.runner
            self._pending_report = (s, previous, time.monotonic_ns())
        return self.current.next_chunk(obs, task)

    def value_quantile(self, obs, task, tau):
        return self.current.value_quantile(obs, task, tau)

    def _report_swap(self) -> None:
        """One chunk after a swap: how long it took and what the control loop felt."""
        s, previous, swap_ns = self._pending_report
        self._pending_report = None
        n = max(20, self.ticks.count - s.tick_mark)
        self._post(PolicyReport(
            robot_id=self.robot_id, version=s.version, ok=True, previous=previous, swap_t_mono_ns=swap_ns,
            load_ms=round((swap_ns / 1e9 - s.offered_at) * 1000, 1),
            jitter_p99_ms=round(self.ticks.jitter_p99_ms(s.tick_mark, self.ticks.count), 3),
            jitter_before_ms=round(self.ticks.jitter_p99_ms(s.tick_mark - n, s.tick_mark), 3),
            missed_ticks=self.ticks.missed - s.missed_mark,
            fetch_ms=s.phases_ms[0], queue_ms=s.phases_ms[1], build_ms=s.phases_ms[2], build_cpu_ms=s.phases_ms[3]))

    # --- from the link thread ---------------------------------------------------------------------

    def on_message(self, msg: Msg, blobs: list[bytes]) -> bool:
        if not isinstance(msg, (PolicyOffer, PolicyChunk)):
            return False
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="policy-swap", daemon=True)
            self._thread.start()
        self._q.put((msg, blobs[0] if blobs else b""))
        return True

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    # --- worker thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        ask_short_slice()  # see SWAP_WORKER_SCHEDULING
        dl: dict | None = None
        while not self._stop.is_set():
            try:
                msg, blob = self._q.get(timeout=0.5)
            except queue.Empty:
                msg, blob = None, b""
            if isinstance(msg, PolicyOffer):
                dl = self._on_offer(msg, dl)
            elif isinstance(msg, PolicyChunk) and dl is not None and msg.version == dl["offer"].version:
                dl = self._on_chunk(msg, blob, dl)
            if dl is not None and time.monotonic() - dl["last"] > STALL_S:
                log.info("policy v%d download stalled at %d bytes; asking again", dl["offer"].version, len(dl["buf"]))
                dl["next"], dl["last"] = len(dl["buf"]), time.monotonic()
                self._fetch(dl)

    def _on_offer(self, offer: PolicyOffer, dl: dict | None) -> dict | None:
        v = offer.version
        busy = dl["offer"].version if dl else 0
        if (v, offer.sha256) == (self.current.version, self.current.digest) or v in (self.standby_version, busy):
            return dl
        if v in self._refused:
            self._refuse(offer, self._refused[v], time.monotonic())
            return dl
        if not 0 < offer.meta_bytes < offer.total_bytes <= MAX_SNAPSHOT_BYTES:
            self._refuse(offer, f"offered size {offer.total_bytes} is out of bounds", time.monotonic())
            return dl
        log.info("downloading policy v%d (%d bytes)", v, offer.total_bytes)
        self._loading = v
        dl = {"offer": offer, "buf": bytearray(), "next": 0, "last": time.monotonic(),
              "t0": time.monotonic(), "mark": self.ticks.count, "missed": self.ticks.missed}
        self._fetch(dl)
        return dl

    def _fetch(self, dl: dict) -> None:
        total = dl["offer"].total_bytes
        while dl["next"] < total and dl["next"] - len(dl["buf"]) < WINDOW * FETCH_BYTES:
            self._post(PolicyFetch(robot_id=self.robot_id, version=dl["offer"].version, offset=dl["next"],
                                   length=min(FETCH_BYTES, total - dl["next"])))
            dl["next"] += FETCH_BYTES

    def _on_chunk(self, msg: PolicyChunk, blob: bytes, dl: dict) -> dict | None:
        offer = dl["offer"]
        if msg.error or msg.total_bytes != offer.total_bytes:
            self._refuse(offer, msg.error or f"hub now serves {msg.total_bytes} bytes, offered {offer.total_bytes}", dl["t0"])
            return None
        if msg.offset != len(dl["buf"]) or not blob:
            return dl  # a repeat after a resend, or an empty piece
        dl["buf"] += blob[: offer.total_bytes - len(dl["buf"])]
        dl["last"] = time.monotonic()
        if len(dl["buf"]) < offer.total_bytes:
            if len(blob) < FETCH_BYTES:  # the hub sends smaller pieces: ask by what arrived
                dl["next"] = max(dl["next"], len(dl["buf"]))
            self._fetch(dl)
            return dl
        data = bytes(dl["buf"])
        fetched = time.monotonic()
        with build_slot(self.build_slots) as waited:
            t_build, cpu = time.monotonic(), time.thread_time()
            try:
                runner = verify_and_load(data[:offer.meta_bytes], data[offer.meta_bytes:], offer,
                                         obs_dim=self.obs_dim, action_dim=self.action_dim, task=self._task())
            except Exception as e:  # any failure (bad file, torch error) means: keep the old policy
                self._refuse(offer, str(e)[:300], dl["t0"])
                return None
            phases = ((fetched - dl["t0"]) * 1000, waited * 1000, (time.monotonic() - t_build) * 1000,
                      (time.thread_time() - cpu) * 1000)
        self.error = ""
        self._standby = PolicySnapshot(offer.version, offer.sha256, runner, dl["t0"], dl["mark"], dl["missed"],
                                       tuple(round(x, 1) for x in phases))
        self._loading = 0
        log.info("policy v%d verified and loaded; swapping at the next chunk boundary", offer.version)
        return None

    def _refuse(self, offer: PolicyOffer, reason: str, t0: float) -> None:
        self._refused[offer.version] = reason
        self._loading = 0
        self.error = f"v{offer.version}: {reason}"
        log.error("refused policy v%d, keeping v%d: %s", offer.version, self.current.version, reason)
        self._post(PolicyReport(robot_id=self.robot_id, version=offer.version, ok=False, reason=reason,
                                previous=self.current.version, load_ms=round((time.monotonic() - t0) * 1000, 1)))
