"""Clients' questions about recorded data and the learner, as the hub answers them: episode
lists, details, curves and frames, the episode feed for learners, the learner board, robots'
value traces.

``DataRequests`` is a part of ``Hub`` (mixed in; run by the hub's loop thread). Guarantees:
read-only store questions get their typed answer or a Reply that says why not (a failing store
never stops the hub); only learner (and admin) keys fetch episodes or report learner status,
refusals logged with the sender's key.
"""

from __future__ import annotations

import logging
import time

from lwd_core.protocol.messages import (
    FetchEpisodes,
    GetCurves,
    GetEpisodeFrame,
    GetLearnerStatus,
    GetValueTrace,
    LearnerStatus,
    ListEpisodes,
    ShowEpisode,
)
from lwd_operator.hub import episode_queries
from lwd_operator.hub.authz import CLIENT_PORT
from lwd_operator.hub.operator_requests import ClientEntry
from lwd_operator.sockets import send

log = logging.getLogger("lwd.hub")


class DataRequests:
    """Mixed into ``Hub``: answers about episodes, the learner and value traces."""

    def _client_FetchEpisodes(self, client: ClientEntry, msg: FetchEpisodes) -> None:
        if client.role not in ("learner", "admin"):
            self.rejected["client:not_learner"] += 1
            log.info("rejected fetch_episodes from %s (%s): learners only", client.operator, client.role)
            self._reply(client.identity, msg.seq, ok=False, error="only a learner may fetch episodes")
        elif self.episode_feed is None:
            self._reply(client.identity, msg.seq, ok=False, error="this hub records no episodes")
        else:
            self.episode_feed.submit(client.identity, client.operator, msg)

    def _client_LearnerStatus(self, client: ClientEntry, msg: LearnerStatus) -> None:
        why = "only a learner may report learner status" if client.role not in ("learner", "admin") \
            else self.learners.note(client.operator, msg, time.monotonic())
        if why is not None:  # only refusals are answered: the learner sends and forgets
            self.gate.reject(CLIENT_PORT, "learner_status", client.key, f"learner status from {client.operator}: {why}")
            self._reply(client.identity, msg.seq, ok=False, error=f"learner status refused: {why}")

    def _client_GetLearnerStatus(self, client: ClientEntry, msg: GetLearnerStatus) -> None:
        send(self.client_sock, self.seq.stamp(self.learners.answer(time.monotonic(), msg.history), corr=msg.seq),
             prefix=[client.identity])

    def _client_ListEpisodes(self, client: ClientEntry, msg: ListEpisodes) -> None:
        self._answer_query(client, msg, episode_queries.list_episodes)

    def _client_ShowEpisode(self, client: ClientEntry, msg: ShowEpisode) -> None:
        self._answer_query(client, msg, episode_queries.show_episode)

    def _client_GetCurves(self, client: ClientEntry, msg: GetCurves) -> None:
        self._answer_query(client, msg, episode_queries.curves)

    def _client_GetEpisodeFrame(self, client: ClientEntry, msg: GetEpisodeFrame) -> None:
        self._answer_query(client, msg, lambda _store, q: self.episode_frames.answer(q))

    def _client_GetValueTrace(self, client: ClientEntry, msg: GetValueTrace) -> None:
        if self._robot_or_error(client, msg) is not None:
            trace = self.value_traces.trace(msg.robot_id, msg.since_chunk)
            if trace is None:
                self._reply(client.identity, msg.seq, ok=False, error=f"{msg.robot_id} has sent no status yet")
            else:
                send(self.client_sock, self.seq.stamp(trace, corr=msg.seq), prefix=[client.identity])

    def _answer_query(self, client: ClientEntry, msg, query) -> None:
        """Answer a read-only store question with its typed reply, or a Reply that says why not."""
        if self.recorder is None:
            self._reply(client.identity, msg.seq, ok=False, error="this hub does not record episodes")
            return
        try:
            answer = query(self.recorder.store, msg)
        except episode_queries.QueryError as err:
            log.info("refused %s from %s: %s", type(msg).__name__, client.operator, err)
            self._reply(client.identity, msg.seq, ok=False, error=str(err))
            return
        except Exception as err:  # a failing store must not stop the hub; the caller learns why
            log.warning("%s from %s failed: %s", type(msg).__name__, client.operator, err)
            self._reply(client.identity, msg.seq, ok=False, error=f"store: {err}")
            return
        answer, blobs = answer if isinstance(answer, tuple) else (answer, [])
        send(self.client_sock, self.seq.stamp(answer, corr=msg.seq), blobs, prefix=[client.identity])
