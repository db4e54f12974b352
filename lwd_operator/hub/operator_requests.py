"""Operators' requests about robots, as the hub answers them: take, give, teleop, reset, help,
goodbye, and the heartbeat that keeps held robots' deadman alive.

``OperatorRequests`` is a part of ``Hub`` (mixed in; the hub's loop thread runs it, on the
hub's state: ``fleet``, ``locks``, ``clients``, ``drivers``, ``attention``). Guarantees: only
the holder of a robot's lock drives or resets it; a request about an unknown robot is refused
with a reason logged with the sender's key; a client that says goodbye gives back every robot
it holds; repeated help requests for a robot within ``HELP_COALESCE_S`` raise one alert.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from lwd_core.protocol.messages import (
    Alert,
    ClientBye,
    Give,
    Heartbeat,
    OperatorBeat,
    Release,
    RequestHelp,
    ResetEpisode,
    Take,
    Takeover,
    Teleop,
)
from lwd_operator.hub.authz import CLIENT_PORT
from lwd_operator.hub.registry import RobotEntry
from lwd_operator.hub.takeover import TakeoverError

log = logging.getLogger("lwd.hub")

HELP_COALESCE_S = 10.0
"""Help requests for a robot within this long of the last one raise no new alert."""


@dataclasses.dataclass
class ClientEntry:
    """A connected client (console, TUI, bot, learner) as the hub knows it."""

    identity: bytes
    operator: str
    role: str
    last_seen: float
    subscribed_hz: float = 0.0
    last_push: float = 0.0
    key: str = ""
    """Name of the client's CURVE key: its identity (``operator`` is this name unless the hub
    runs without authentication)."""
    session: str = ""


class OperatorRequests:
    """The hub's handlers of operators' robot requests (see the module docstring)."""

    def _robot_or_error(self, client: ClientEntry, msg) -> RobotEntry | None:
        e = self.fleet.robots.get(msg.robot_id)
        if e is None:
            self.gate.reject(CLIENT_PORT, "unknown_robot", client.key, f"{type(msg).__name__}: unknown robot {msg.robot_id!r}")
            self._reply(client.identity, msg.seq, ok=False, error=f"unknown robot {msg.robot_id!r}")
        return e

    def _client_Heartbeat(self, client: ClientEntry, msg: Heartbeat) -> None:
        for rid in self.locks.held_by(client.identity):
            e = self.fleet.robots.get(rid)
            if e is not None:
                self._to_robot(e, OperatorBeat(operator=client.operator))

    def _client_Take(self, client: ClientEntry, msg: Take) -> None:
        e = self._robot_or_error(client, msg)
        if e is None:
            return
        try:
            self.locks.take(msg.robot_id, client.identity, client.operator)
        except TakeoverError as err:
            self._reply(client.identity, msg.seq, ok=False, error=str(err))
            return
        self._to_robot(e, Takeover(operator=client.operator))
        self.drivers[msg.robot_id] = client.operator
        log.info("%s took %s", client.operator, msg.robot_id)
        self._reply(client.identity, msg.seq)

    def _client_Give(self, client: ClientEntry, msg: Give) -> None:
        e = self._robot_or_error(client, msg)
        if e is None:
            return
        try:
            self.locks.give(msg.robot_id, client.identity)
        except TakeoverError as err:
            self._reply(client.identity, msg.seq, ok=False, error=str(err))
            return
        self._to_robot(e, Release(operator=client.operator))
        log.info("%s released %s", client.operator, msg.robot_id)
        self._reply(client.identity, msg.seq)

    def _client_ClientBye(self, client: ClientEntry, msg: ClientBye) -> None:
        robots = self.locks.drop_client(client.identity)
        for rid in robots:
            e = self.fleet.robots.get(rid)
            if e is not None:
                self._to_robot(e, Release(operator=client.operator))
        log.info("client %s left (%s); gave back %s", client.operator, msg.reason or "no reason",
                 robots or "no robots")
        self._reply(client.identity, msg.seq)
        del self.clients[client.identity]

    def _client_Teleop(self, client: ClientEntry, msg: Teleop) -> None:
        holder = self.locks.holder(msg.robot_id)
        if holder is None or holder.client != client.identity:
            self.gate.reject(CLIENT_PORT, "teleop_without_lock", client.key, f"teleop for {msg.robot_id!r} without its lock")
            self._reply(client.identity, msg.seq, ok=False, error=f"you do not hold {msg.robot_id!r}")
            return
        e = self.fleet.robots.get(msg.robot_id)
        if e is not None:
            msg.operator = client.operator
            self._to_robot(e, msg)

    def _client_ResetEpisode(self, client: ClientEntry, msg: ResetEpisode) -> None:
        e = self._robot_or_error(client, msg)
        if e is None:
            return
        holder = self.locks.holder(msg.robot_id)
        if holder is not None and holder.client != client.identity:
            self.gate.reject(CLIENT_PORT, "held", client.key, f"reset of {msg.robot_id} held by {holder.operator}")
            self._reply(client.identity, msg.seq, ok=False, error=f"{msg.robot_id} is held by {holder.operator}")
            return
        self._to_robot(e, ResetEpisode(robot_id=msg.robot_id, reason=msg.reason))
        self._reply(client.identity, msg.seq)

    def _client_RequestHelp(self, client: ClientEntry, msg: RequestHelp) -> None:
        if self._robot_or_error(client, msg) is None:
            return
        now = time.monotonic()
        if now - self._help_at.get(msg.robot_id, -1e9) < HELP_COALESCE_S:
            # Repeated asks for the same robot are one alert: operators already see it.
            self.help_coalesced += 1
            self._reply(client.identity, msg.seq, coalesced="1")
            return
        self._help_at[msg.robot_id] = now
        e = self.fleet.robots[msg.robot_id]
        episode = e.status.episode_id if e.status else e.hello.episode_id
        self.attention.note_help(msg.robot_id, episode, "", 0.0, f"{client.operator}: {msg.reason or 'no reason given'}")
        self._alert(Alert(robot_id=msg.robot_id, level="warning", code="help",
                          text=f"{client.operator} asks for help: {msg.reason or 'no reason given'}"))
        self._reply(client.identity, msg.seq)
