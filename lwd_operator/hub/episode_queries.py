"""Read-only questions clients ask about recorded episodes, answered from the hub's store.

Clients never open the store themselves (it may live on another machine); these run on the hub
loop thread over its own SQLite connection, bounded in size (``MAX_EPISODE_LIST`` rows, at most
60 windows per curve) so one question cannot stall the fleet for long. Labels and relabels stay
``LabelEpisode`` (every call is audited by the store).
"""

from __future__ import annotations

from lwd_core.protocol.messages import (
    MAX_EPISODE_LIST,
    CurvePoint,
    Curves,
    EpisodeDetail,
    EpisodeInfo,
    EpisodeList,
    GetCurves,
    HumanSpan,
    LabelChange,
    ListEpisodes,
    ShowEpisode,
)
from lwd_core.store import EpisodeStore
from lwd_core.store import metrics as store_metrics

OUTCOMES = ("success", "failure", "unlabeled")
STATUSES = ("running", "ended", "aborted")
SOURCES = ("robot", "demo")
MAX_CURVE_POINTS = 400


class QueryError(ValueError):
    """A question the hub will not answer (bad filter, unknown episode); the text says why."""


def episode_info(row: dict) -> EpisodeInfo:
    return EpisodeInfo(
        episode_id=row["id"], robot_id=row["robot"], task=row["task"], status=row["status"],
        outcome=row["outcome"], started_at=float(row.get("started_at") or 0.0),
        ended_at=float(row.get("ended_at") or 0.0), end_reason=row.get("end_reason") or "",
        steps=int(row.get("stored_steps") or row.get("steps") or 0), human_steps=int(row.get("human_steps") or 0),
        policy_versions=[int(v) for v in row.get("policy_versions") or []],
        labelled_by=row.get("labelled_by") or "", notes=row.get("notes") or "", source=row.get("source") or "robot")


def list_episodes(store: EpisodeStore, q: ListEpisodes) -> EpisodeList:
    for name, value, allowed in (("outcome", q.outcome, OUTCOMES), ("status", q.status, STATUSES),
                                 ("source", q.source, SOURCES)):
        if value and value not in allowed:
            raise QueryError(f"{name} must be one of {', '.join(allowed)}, not {value[:40]!r}")
    limit = max(1, min(int(q.limit), MAX_EPISODE_LIST))
    rows = store.list_episodes(
        task=q.task or None, robot=q.robot or None, outcome=q.outcome or None, status=q.status or None,
        policy_version=q.policy_version if q.policy_version >= 0 else None, since=q.since or None,
        source=q.source or None, limit=limit)
    return EpisodeList(episodes=[episode_info(r) for r in rows])


def show_episode(store: EpisodeStore, q: ShowEpisode) -> EpisodeDetail:
    try:
        row = store.get(q.episode_id)
    except KeyError:
        raise QueryError(f"no episode {q.episode_id[:80]!r}") from None
    audit = [LabelChange(old=a["old"], new=a["new"], who=a["who"], at=float(a["at"]), note=a["note"] or "")
             for a in store.label_history(q.episode_id)]
    spans = [HumanSpan(start_step=int(s["start_step"]), end_step=int(s["end_step"]), operator=s["operator"] or "")
             for s in store.interventions(q.episode_id)]
    return EpisodeDetail(episode=episode_info(row), audit=audit[-100:], interventions=spans[:200])


def curves(store: EpisodeStore, q: GetCurves) -> Curves:
    points = max(2, min(int(q.points), 60))
    total = store_metrics.totals(store).steps
    while True:
        bucket = max(1, -(-total // points))  # ceil: at most ``points`` windows per series
        out = []
        for group in (None, "task"):
            for steps_at, r in store_metrics.over_fleet_steps(store, bucket, group=group):
                out.append(CurvePoint(group=str(r.key), fleet_steps=int(steps_at), episodes=r.episodes,
                                      labelled=r.labelled, successes=r.successes, steps=r.steps,
                                      human_steps=r.human_steps))
        if len(out) <= MAX_CURVE_POINTS or points <= 2:
            return Curves(points=out, total_steps=int(total))
        points //= 2  # many tasks: fewer, wider windows keep the reply under the header cap
