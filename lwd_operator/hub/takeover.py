"""The takeover lock: at most one operator drives a robot at a time."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Holder:
    client: bytes
    """Routing id of the client connection that holds the lock."""
    operator: str


class TakeoverError(RuntimeError):
    pass


class TakeoverArbiter:
    """Robot id -> holder. Single-threaded: owned by the hub loop."""

    def __init__(self):
        self._locks: dict[str, Holder] = {}

    def take(self, robot_id: str, client: bytes, operator: str) -> Holder:
        cur = self._locks.get(robot_id)
        if cur is not None and cur.client != client:
            raise TakeoverError(f"{robot_id} is held by {cur.operator}")
        h = Holder(client, operator)
        self._locks[robot_id] = h
        return h

    def give(self, robot_id: str, client: bytes) -> None:
        cur = self._locks.get(robot_id)
        if cur is None:
            raise TakeoverError(f"{robot_id} is not held")
        if cur.client != client:
            raise TakeoverError(f"{robot_id} is held by {cur.operator}, not by you")
        del self._locks[robot_id]

    def holder(self, robot_id: str) -> Holder | None:
        return self._locks.get(robot_id)

    def held_by(self, client: bytes) -> list[str]:
        return [r for r, h in self._locks.items() if h.client == client]

    def drop_client(self, client: bytes) -> list[str]:
        """Forget every lock of a client that went away; returns the robots it held."""
        robots = self.held_by(client)
        for r in robots:
            del self._locks[r]
        return robots

    def operator_of(self, robot_id: str) -> str:
        h = self._locks.get(robot_id)
        return h.operator if h else ""
