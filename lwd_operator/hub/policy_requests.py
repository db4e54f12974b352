"""Policy distribution as the hub runs it: uploads, rollout commands and queries from clients,
offers to robots and the chunks they fetch.

``PolicyRequests`` is a part of ``Hub`` (mixed in; the hub's loop thread runs it, on the hub's
``rollout``, ``fleet`` and sockets). Guarantees: only roles that may publish upload
(``rollout.POLICY_ROLES``), only roles that may command deploy, canary, promote, roll back or
pin; a refused request is answered with the reason and logged; a store error while serving a
chunk reaches the robot as an error chunk (it keeps its current version), never the hub's loop.
"""

from __future__ import annotations

import logging
import time

from lwd_core.protocol.messages import (
    PolicyChunk,
    PolicyCommand,
    PolicyFetch,
    PolicyList,
    PolicyOffer,
    PolicyQuery,
    PolicyUpload,
)
from lwd_operator.hub.operator_requests import ClientEntry
from lwd_operator.hub.policy_store import PolicyStoreError
from lwd_operator.hub.registry import RobotEntry
from lwd_operator.hub.rollout import RolloutError, may_command, role_allows
from lwd_operator.sockets import send

log = logging.getLogger("lwd.hub")


class PolicyRequests:
    """Mixed into ``Hub``: policy versions from clients to robots."""

    def _offer_policy(self, robot_id: str, offer: PolicyOffer) -> bool:
        e = self.fleet.robots.get(robot_id)
        return e is not None and self._to_robot(e, offer)

    def _serve_policy(self, entry: RobotEntry, msg: PolicyFetch) -> None:
        length = max(0, min(msg.length, self.rollout_cfg.chunk_bytes))
        try:
            _, total, _ = self.rollout.store.payload_info(msg.version)
            blob = self.rollout.store.read_payload(msg.version, msg.offset, length) if 0 <= msg.offset < total else b""
        except (OSError, PolicyStoreError) as err:
            self._to_robot(entry, PolicyChunk(version=msg.version, offset=msg.offset, total_bytes=0, error=str(err), corr=msg.seq))
            return
        self._to_robot(entry, PolicyChunk(version=msg.version, offset=msg.offset, total_bytes=total, corr=msg.seq), [blob])

    def _rollout_tick(self, now: float) -> None:
        running, tasks = {}, {}
        for rid, e in self.fleet.robots.items():
            tasks[rid] = e.status.task if e.status else e.hello.task
            if not e.stale:
                running[rid] = ((e.status.policy_version, e.status.policy_digest) if e.status
                                else (e.hello.policy_version, e.hello.policy_digest))
        try:
            self.rollout.tick(now, running, tasks)
        except Exception:  # a store error must not stop the hub; it is logged and retried
            log.exception("rollout tick failed")

    def _client_PolicyUpload(self, client: ClientEntry, msg: PolicyUpload, blobs: list[bytes]) -> None:
        if not role_allows(client.role, "publish"):  # AUTHZ(policy.publish)
            self._reply(client.identity, msg.seq, ok=False, error=f"role {client.role} may not publish policies")
            return
        try:
            version = self.rollout.upload(client.identity, client.operator, msg, blobs[0] if blobs else b"")
        except (RolloutError, PolicyStoreError, OSError) as err:
            self.rejected["client:policy_upload"] += 1
            log.info("refused policy upload from %s: %s", client.operator, err)
            self._reply(client.identity, msg.seq, ok=False, error=str(err))
            return
        self._reply(client.identity, msg.seq, **({"version": str(version)} if version else {}))

    def _client_PolicyCommand(self, client: ClientEntry, msg: PolicyCommand) -> None:
        if not may_command(client.role, msg.action):
            self._reply(client.identity, msg.seq, ok=False, error=f"role {client.role} may not {msg.action} policies")
            return
        online = [rid for rid, e in self.fleet.robots.items() if not e.stale]
        try:
            text = self.rollout.command(client.operator, msg, online)
        except (RolloutError, PolicyStoreError) as err:
            self._reply(client.identity, msg.seq, ok=False, error=str(err))
            return
        self._rollout_tick(time.monotonic())  # offers go out now, not at the next tick
        self._reply(client.identity, msg.seq, result=text)

    def _client_PolicyQuery(self, client: ClientEntry, msg: PolicyQuery) -> None:
        running: dict[int, list[str]] = {}
        for rid, e in self.fleet.robots.items():
            if not e.stale:
                running.setdefault(e.status.policy_version if e.status else e.hello.policy_version, []).append(rid)
        reply = PolicyList(versions=self.rollout.store.views(msg.version, running),
                           audit=self.rollout.store.audit_rows(msg.version, msg.audit_limit))
        send(self.client_sock, self.seq.stamp(reply, corr=msg.seq), prefix=[client.identity])
