"""Who may do what: roles, the kinds of message each role may send, and robot-id bindings.

A key is an ``Identity`` (name, role, robot id globs). The hub asks ``refusal(...)`` for every
message before handling it; a non-None answer is the reason it is refused. Other parts extend
the table for their own messages with ``grant(role, kind)`` at import time, e.g.
``grant("learner", "publish_policy")`` or ``grant("admin", "promote")``.

Ports: robots speak only on the robot port and publish on the frame port; every other role
speaks only on the client port. Anyone authorized may watch the frame stream.
"""

from __future__ import annotations

import dataclasses
import fnmatch

ROLES = ("robot", "observer", "operator", "learner", "admin")
"""Every role a key can have."""

ROBOT_PORT, CLIENT_PORT, FRAME_PORT = "robot", "client", "frame"

_OBSERVER = {"client_hello", "client_bye", "heartbeat", "subscribe", "policy_query", "list_episodes",
             "show_episode", "get_curves", "get_episode_frame", "get_learner_status"}
_OPERATOR = _OBSERVER | {"take", "give", "teleop", "reset_episode", "label_episode", "request_help"}
_LEARNER = _OBSERVER | {"fetch_episodes", "policy_upload", "policy_command", "learner_status"}
"""A learner's policy commands are limited to proposals (``hub.rollout.may_command``)."""

_TABLE: dict[str, set[str]] = {
    "robot": {"robot_hello", "heartbeat", "robot_status", "episode_event", "step_batch", "alert",
              "frame", "telemetry", "request_help", "policy_fetch", "policy_report"},
    "observer": set(_OBSERVER),
    "operator": set(_OPERATOR),
    "learner": set(_LEARNER),
    "admin": _OPERATOR | _LEARNER,
}


@dataclasses.dataclass(frozen=True)
class Identity:
    """An authorized key: its name (the ZAP User-Id), role and, for robots, robot id globs."""

    name: str
    role: str
    robots: tuple[str, ...] = ()

    def may_be(self, robot_id: str) -> bool:
        """May this key speak as robot ``robot_id``? (glob match, e.g. ``sim-*``)"""
        return any(fnmatch.fnmatchcase(robot_id, g) for g in self.robots)


INSECURE = Identity("insecure", "admin", ("*",))
"""The identity of every peer of a hub started with ``--insecure-no-auth`` (trusted rigs)."""


def grant(role: str, *kinds: str) -> None:
    """Allow ``role`` to send messages of ``kinds`` (the struct's tag); admin gets them too."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    _TABLE[role].update(kinds)
    if role not in ("robot", "admin"):
        _TABLE["admin"].update(kinds)


def allowed(role: str, kind: str) -> bool:
    """May a key of ``role`` send a message of ``kind``?"""
    return kind in _TABLE.get(role, ())


def kinds_of(role: str) -> frozenset[str]:
    return frozenset(_TABLE.get(role, ()))


def refusal(ident: Identity | None, port: str, kind: str) -> str | None:
    """Why a message of ``kind`` from ``ident`` on ``port`` is refused, or None if allowed."""
    if ident is None:
        return "key is not authorized"
    if ident is INSECURE:
        return None
    robot_port = port in (ROBOT_PORT, FRAME_PORT)
    if (ident.role == "robot") != robot_port:
        return f"a key with role {ident.role} may not speak on the {port} port"
    if not allowed(ident.role, kind):
        return f"a key with role {ident.role} may not send {kind}"
    return None
