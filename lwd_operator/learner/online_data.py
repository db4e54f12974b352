"""What online data the learner trains on, and how much of each batch it takes.

Mixing schedule (``online_share``): a batch draws ``share`` of its rows from online episodes and
the rest from offline data, with ``share = online_fraction * min(1, online_steps /
online_ramp_steps)``. Early in deployment the few episodes received would otherwise be replayed
hundreds of times each per minute (over-fitting the critic to them); once ``online_ramp_steps``
steps have arrived the share stays at ``online_fraction`` (0.5 by default: offline:online 1:1,
algorithms.md 4.2). With no offline data every row is online (the dataset falls back by itself).

Selection (``select_for_training``): LWD learns from every labelled step, successes and
failures alike, human corrections included (``all``); the HG-DAgger-style baseline retrains BC
on whole successful episodes and on the human steps of failed ones
(``successes_and_interventions``), each human run becoming its own short episode.
"""

from __future__ import annotations

import numpy as np

from lwd_core.data.episode import SOURCE_HUMAN, Episode

SELECTIONS = ("all", "successes_and_interventions")


def online_share(online_fraction: float, online_ramp_steps: int, online_steps: int) -> float:
    """The online share of a batch after ``online_steps`` online steps (see the module doc)."""
    if online_steps <= 0:
        return 0.0
    if online_ramp_steps <= 0:
        return online_fraction
    return online_fraction * min(1.0, online_steps / online_ramp_steps)


def _human_runs(ep: Episode) -> list[Episode]:
    human = ep.sources == SOURCE_HUMAN
    if not human.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], human.astype(np.int8), [0]])))
    out = []
    for k, (a, b) in enumerate(zip(edges[::2], edges[1::2], strict=True)):
        final = ep.states[b] if b < len(ep) else ep.final_state
        out.append(Episode(f"{ep.episode_id}/human{k}", ep.task, ep.states[a:b], ep.actions[a:b],
                           ep.sources[a:b], ep.policy_versions[a:b], outcome=ep.outcome, final_state=final,
                           robot_id=ep.robot_id, instruction=ep.instruction))
    return out


def select_for_training(episodes: list[Episode], how: str) -> list[Episode]:
    """The episodes (or parts) that train under selection ``how`` (see the module doc)."""
    if how == "all":
        return list(episodes)
    if how != "successes_and_interventions":
        raise ValueError(f"learn_from must be one of {SELECTIONS}, not {how!r}")
    out: list[Episode] = []
    for ep in episodes:
        out.extend([ep] if ep.outcome == "success" else _human_runs(ep))
    return out
