"""Where the learner's candidate snapshots go: the publisher interface and a folder publisher.

The learner only needs ``publish_policy``; ``HubClient.publish_policy`` (the hub's policy store,
which hands candidates to the rollout control) has exactly this signature, so a connected
client is a publisher. ``FolderPublisher`` serves a learner run without a policy store (tests,
offline experiments): it numbers candidates and copies them into a folder.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
from typing import Protocol


class Publisher(Protocol):
    def publish_policy(self, snapshot_dir: str | os.PathLike, *, parent: int | None = None,
                       learner_step: int = 0, note: str = "") -> int:
        """Upload the snapshot written by ``lwd_core.learning.snapshot.save``; returns its version."""


class FolderPublisher:
    """Copies candidates to ``root/v<version>/`` (versions 1, 2, ...) and lists them in
    ``root/versions.json``; the next version continues after the highest one already there."""

    def __init__(self, root: str | os.PathLike):
        self.root = pathlib.Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def versions(self) -> list[dict]:
        try:
            return json.loads((self.root / "versions.json").read_text())
        except (OSError, ValueError):
            return []

    def publish_policy(self, snapshot_dir, *, parent=None, learner_step=0, note="") -> int:
        listed = self.versions()
        version = max([v["version"] for v in listed], default=0) + 1
        dest = self.root / f"v{version:04d}"
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(snapshot_dir, dest)
        listed.append({"version": version, "parent": parent, "learner_step": learner_step, "note": note,
                       "path": dest.name})
        tmp = self.root / "versions.json.tmp"
        tmp.write_text(json.dumps(listed, indent=1))
        os.replace(tmp, self.root / "versions.json")
        return version
