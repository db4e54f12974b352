"""The learner as front ends show it (from ``HubClient.learner_status``): one state line, the
figures behind it and its loss curves against updates.

``learner_state(views, error="")`` turns the hub's answer (or the error of asking) into a
``LearnerState``; both UIs render its ``line`` / ``short`` / ``detail`` / ``losses_line`` and
plot its ``curves``. State is never colour alone: the words say online, pre-training, waiting
for data, STALE or none.
"""

from __future__ import annotations

import dataclasses
import math

from lwd_core.protocol.messages import LearnerView
from lwd_operator.fleet_view.learning import sparkline

PHASE_WORDS = {"online": "online", "pretrain": "pre-training", "waiting": "waiting for data"}


@dataclasses.dataclass(frozen=True)
class LossCurve:
    """One term of the learner's step info against its update count, oldest first."""

    name: str
    updates: tuple[int, ...]
    values: tuple[float, ...]

    @property
    def last(self) -> float | None:
        return self.values[-1] if self.values else None

    def spark(self, width: int) -> str:
        """A sparkline over the term's own range (log scale when positive over 2+ decades)."""
        vals = list(self.values)
        if not vals:
            return ""
        if min(vals) > 0 and max(vals) / min(vals) > 100:
            vals = [math.log10(v) for v in vals]
        return sparkline(vals, width, lo=min(vals), hi=max(vals))


@dataclasses.dataclass(frozen=True)
class LearnerState:
    """What a UI says about the learner. ``state``: none (no learner reported), error (the hub
    did not answer), online, pretrain, waiting, stale."""

    state: str
    line: str
    """e.g. ``learner ● online 41 200 updates · 3.1 upd/s · v13 proposed 2 min ago``."""
    short: str
    """For top bars: ``learner ● 41 200 updates`` (``learner ○ STALE``, ``learner –``)."""
    detail: str = ""
    """Data and schedule: episodes, steps, cursor, online share, tau, checkpoint age."""
    losses_line: str = ""
    """The last update's terms, losses first; non-finite terms named as such."""
    learner: str = ""
    updates: int = 0
    candidate_version: int = 0
    losses: dict[str, float] = dataclasses.field(default_factory=dict)
    nonfinite: tuple[str, ...] = ()
    curves: tuple[LossCurve, ...] = ()
    """Losses first (names with ``loss``), then the other terms, by name."""
    others: tuple[str, ...] = ()
    """Further learners the hub knows (their names), beyond the one shown."""

    @property
    def alive(self) -> bool:
        return self.state in ("online", "pretrain", "waiting")


def fmt_count(n: int) -> str:
    """41200 -> ``41 200`` (a thin gap reads in any locale)."""
    return f"{n:,}".replace(",", " ")


def fmt_ago(s: float) -> str:
    if s < 0:
        return "never"
    if s < 90:
        return f"{s:.0f} s ago"
    if s < 5400:
        return f"{s / 60:.0f} min ago"
    return f"{s / 3600:.1f} h ago"


def fmt_value(v: float) -> str:
    return f"{v:.3g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"


def term_order(name: str) -> tuple[bool, str]:
    return "loss" not in name, name


def learner_state(views: list[LearnerView] | None, error: str = "") -> LearnerState:
    """The most recently heard learner (the hub lists it first); ``error``: asking failed."""
    if error:
        return LearnerState("error", f"learner: unknown ({error})", "learner ?")
    if not views:
        return LearnerState("none", "learner: none has reported to this hub", "learner –")
    v = views[0]
    st = v.status
    stale = v.stale
    state = "stale" if stale else st.phase
    dot = "○" if stale else "●"
    what = f"STALE (silent {v.seen_s_ago:.0f} s)" if stale else PHASE_WORDS.get(st.phase, st.phase)
    parts = [f"learner {dot} {what} {fmt_count(st.updates)} updates"]
    if not stale:
        parts.append(f"{st.updates_per_s:.1f} upd/s")
    parts.append(f"v{st.candidate_version} proposed {fmt_ago(st.candidate_age_s)}" if st.candidate_version
                 else "no candidate yet")
    if st.nonfinite:
        parts.append("NON-FINITE " + ", ".join(st.nonfinite))
    short = f"learner {dot} {'STALE' if stale else fmt_count(st.updates) + ' updates'}"
    tau = f" · tau {st.tau:.2f}" if st.tau >= 0 else ""
    detail = (f"{st.learner} ({st.agent}) · {fmt_count(st.episodes)} episodes · {fmt_count(st.steps)} steps · "
              f"cursor {st.cursor} · online share {st.online_share:.0%}{tau} · checkpoint "
              f"{fmt_ago(st.checkpoint_age_s)}")
    terms = sorted(st.losses, key=term_order)
    losses_line = " · ".join(f"{k} {fmt_value(st.losses[k])}" for k in terms)
    if st.nonfinite:
        losses_line = " · ".join([losses_line] * bool(losses_line) + [f"{k} NaN/inf" for k in st.nonfinite])
    curves = tuple(LossCurve(s.name, tuple(s.updates), tuple(s.values))
                   for s in sorted(v.history, key=lambda s: term_order(s.name)))
    return LearnerState(state, " · ".join(parts), short, detail, losses_line, st.learner, st.updates,
                        st.candidate_version, dict(st.losses), tuple(st.nonfinite), curves,
                        tuple(o.status.learner for o in views[1:]))
