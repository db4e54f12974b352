"""Fleet metrics computed from the episode index (both consoles call these).

Definitions, the same everywhere:
- success rate = successes / labelled episodes (unlabeled episodes are not counted either way);
- intervention rate = human steps / all stored steps (a step-weighted rate, as in the design);
- human minutes = time under human control, from step timestamps;
- an episode counts for the policy version that produced most of its policy steps.
Only robot episodes count (imported demonstrations are excluded) and only closed ones
(ended or aborted) unless ``include_running``.
"""

from __future__ import annotations

import dataclasses

from lwd_core.store.episode_store import EpisodeStore

GROUPS = {"task": "task", "robot": "robot", "policy_version": "policy_version"}


@dataclasses.dataclass(frozen=True)
class Rates:
    """Aggregate over a set of episodes."""

    key: str | int | float
    episodes: int
    labelled: int
    successes: int
    steps: int
    human_steps: int
    human_minutes: float

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.labelled if self.labelled else None

    @property
    def intervention_rate(self) -> float | None:
        return self.human_steps / self.steps if self.steps else None


_AGG = (
    "COUNT(*), SUM(outcome != 'unlabeled'), SUM(outcome = 'success'),"
    " COALESCE(SUM(stored_steps), 0), COALESCE(SUM(human_steps), 0),"
    " COALESCE(SUM(human_seconds), 0) / 60.0"
)


def _where(include_running: bool, since: float | None) -> tuple[str, list]:
    where = ["source = 'robot'"]
    args: list = []
    if not include_running:
        where.append("status != 'running'")
    if since is not None:
        where.append("started_at >= ?")
        args.append(since)
    return " WHERE " + " AND ".join(where), args


def _rates(key, row) -> Rates:
    return Rates(
        key,
        int(row[0] or 0),
        int(row[1] or 0),
        int(row[2] or 0),
        int(row[3] or 0),
        int(row[4] or 0),
        float(row[5] or 0.0),
    )


def totals(
    store: EpisodeStore, *, include_running: bool = False, since: float | None = None
) -> Rates:
    """Whole-fleet counts: episodes, labelled, successes, steps, human steps, human minutes."""
    where, args = _where(include_running, since)
    return _rates("all", store.db.execute(f"SELECT {_AGG} FROM episodes{where}", args).fetchone())


def rates_by(
    store: EpisodeStore, group: str, *, include_running: bool = False, since: float | None = None
) -> list[Rates]:
    """Success and intervention rates per ``task``, ``robot`` or ``policy_version``."""
    col = GROUPS[group]
    where, args = _where(include_running, since)
    rows = store.db.execute(
        f"SELECT {col}, {_AGG} FROM episodes{where} GROUP BY {col} ORDER BY {col}", args
    )
    return [_rates(r[0], r[1:]) for r in rows.fetchall()]


def over_time(
    store: EpisodeStore, bucket_s: float, *, group: str | None = None, since: float | None = None
) -> list[tuple[float, Rates]]:
    """Per time bucket of episode end (``bucket_start``, rates); one series per ``group`` key.

    Returns ``(bucket_start, Rates)`` with ``Rates.key`` the group value (or ``"all"``).
    """
    where, args = _where(False, since)
    col = GROUPS[group] if group else "'all'"
    sql = (
        f"SELECT CAST(ended_at / ? AS INTEGER) * ?, {col}, {_AGG} FROM episodes{where}"
        f" GROUP BY 1, 2 ORDER BY 1, 2"
    )
    rows = store.db.execute(sql, [bucket_s, bucket_s, *args]).fetchall()
    return [(float(r[0]), _rates(r[1], r[2:])) for r in rows]


def over_fleet_steps(
    store: EpisodeStore, bucket_steps: int, *, group: str | None = None
) -> list[tuple[int, Rates]]:
    """Rates per window of ``bucket_steps`` cumulative fleet steps (episodes in end order).

    Returns ``(cumulative_steps_at_window_end, Rates)``: the learning curve against experience
    rather than wall time. Each episode falls in the window where its last step lands.
    """
    where, _ = _where(False, None)
    col = GROUPS[group] if group else "'all'"
    rows = store.db.execute(
        f"SELECT {col}, stored_steps, human_steps, human_seconds, outcome FROM episodes{where}"
        " ORDER BY ended_at, id"
    ).fetchall()
    cum, out = 0, {}
    for key, steps, human, hsec, outcome in rows:
        cum += int(steps)
        window = ((cum - 1) // bucket_steps + 1) * bucket_steps if cum else bucket_steps
        acc = out.setdefault((window, key), [0, 0, 0, 0, 0, 0.0])
        acc[0] += 1
        acc[1] += outcome != "unlabeled"
        acc[2] += outcome == "success"
        acc[3] += int(steps)
        acc[4] += int(human)
        acc[5] += float(hsec) / 60.0
    return [
        (w, _rates(k, v))
        for (w, k), v in sorted(out.items(), key=lambda x: (x[0][0], str(x[0][1])))
    ]


def episode_counts(store: EpisodeStore) -> dict[str, int]:
    """Episodes by status and by outcome (robot episodes), plus imported demonstrations."""
    out: dict[str, int] = {}
    for col in ("status", "outcome"):
        for k, n in store.db.execute(
            f"SELECT {col}, COUNT(*) FROM episodes WHERE source = 'robot' GROUP BY {col}"
        ).fetchall():
            out[k] = int(n)
    out["demo"] = int(
        store.db.execute("SELECT COUNT(*) FROM episodes WHERE source != 'robot'").fetchone()[0]
    )
    return out
