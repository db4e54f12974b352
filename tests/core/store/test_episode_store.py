"""EpisodeStore on real files: idempotent appends, gaps, labels, interventions, failures."""

from __future__ import annotations

import os

import numpy as np
import pytest

from lwd_core.data.episode import SOURCE_HUMAN, SOURCE_POLICY
from lwd_core.store import EpisodeStore, StoreError
from lwd_core.store.interventions import human_segments, pre_intervention_mask
from lwd_core.store.schema import SCHEMA_VERSION, current_version


def steps(first: int, n: int, human: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    idx = np.arange(first, first + n)
    source = np.zeros(n, np.uint8)
    if human:
        source[(idx >= human[0]) & (idx < human[1])] = SOURCE_HUMAN
    return {
        "state": np.stack([idx, -idx, idx * 0.5], 1).astype(np.float32),
        "action": np.stack([idx * 2.0, idx * 3.0], 1).astype(np.float32),
        "source": source,
        "policy_version": np.where(source == 0, 3, 0).astype(np.int32),
        "t_ns": (idx * 50_000_000).astype(np.int64),
    }


@pytest.fixture
def store(tmp_path):
    s = EpisodeStore(tmp_path / "recordings")
    yield s
    s.close()


def test_resend_overlap_is_stored_once_and_gap_is_reported(store):
    store.begin_episode("r1", "e1", "reach")
    assert store.append_steps("r1", "e1", 0, steps(0, 10)).durable_until == 10
    res = store.append_steps("r1", "e1", 5, steps(5, 10))  # half resend, half new
    assert (res.written, res.duplicates, res.durable_until, res.gap) == (5, 5, 15, None)
    res = store.append_steps("r1", "e1", 20, steps(20, 5))
    assert res.gap == (15, 20) and res.durable_until == 15
    assert store.get("e1")["gaps"] == [[15, 20]]
    assert len(store.read_episode("e1")) == 15  # readable prefix stops at the hole
    res = store.append_steps("r1", "e1", 10, steps(10, 10))  # resend fills the hole
    assert res.durable_until == 25 and res.written == 5
    row = store.get("e1")
    assert row["steps"] == row["stored_steps"] == 25 and row["gaps"] == []
    ep = store.read_episode("e1")
    np.testing.assert_array_equal(ep.states, steps(0, 25)["state"])
    np.testing.assert_array_equal(ep.actions, steps(0, 25)["action"])


def test_interventions_pre_intervention_and_labels(store):
    store.begin_episode("r1", "e1", "push", instruction="push the puck")
    store.append_steps(
        "r1", "e1", 0, steps(0, 40, human=(20, 30)), final_state=np.ones(3, np.float32)
    )
    row = store.end_episode("e1", reason="success", steps=40, operator="alice")
    assert row["status"] == "ended" and row["human_steps"] == 10
    assert row["human_seconds"] == pytest.approx(0.5)
    assert row["policy_versions"] == [3] and row["policy_version"] == 3
    assert store.interventions("e1") == [{"start_step": 20, "end_step": 30, "operator": "alice"}]
    s = store.read_steps("e1")
    assert s["pre_intervention"].nonzero()[0].tolist() == list(range(5, 20))  # K = 15
    assert s["is_intervention"].sum() == 10

    store.label("e1", "success", "alice")
    store.label("e1", "failure", "operator-bot", note="puck fell off")
    ep = store.read_episode("e1")
    assert ep.outcome == "failure" and ep.rewards.sum() == 0 and ep.instruction == "push the puck"
    np.testing.assert_array_equal(ep.final_state, np.ones(3))
    store.label("e1", "success", "bob")
    assert store.read_episode("e1").rewards[-1] == 1.0
    audit = [(a["old"], a["new"], a["who"], a["note"]) for a in store.label_history("e1")]
    assert audit == [
        ("unlabeled", "success", "alice", ""),
        ("success", "failure", "operator-bot", "puck fell off"),
        ("failure", "success", "bob", ""),
    ]
    with pytest.raises(ValueError):
        store.label("e1", "great", "bob")
    store.set_notes("e1", "gripper slipped")
    assert store.tag("e1", add=["slip", "review"]) == ["slip", "review"]
    assert store.tag("e1", remove=["review"]) == ["slip"]
    assert store.get("e1")["notes"] == "gripper slipped"


def test_pre_intervention_window_stops_at_previous_takeover():
    src = np.array([0] * 5 + [1] * 2 + [0] * 3 + [1] * 2 + [0] * 2, np.uint8)
    assert human_segments(src) == [(5, 7), (10, 12)]
    mask = pre_intervention_mask(src, k=4)
    assert mask.nonzero()[0].tolist() == [1, 2, 3, 4, 7, 8, 9]
    assert not pre_intervention_mask(np.full(5, SOURCE_POLICY, np.uint8)).any()


def test_frames_round_trip(store):
    store.begin_episode("r1", "e1", "reach")
    store.append_frames("r1", "e1", "wrist", [0, 1], [10, 20], [b"\xff\xd8a", b"\xff\xd8bb"])
    store.append_frames("r1", "e1", "front", [0], [15], [b"\xff\xd8c"])
    store.append_frames("r1", "e1", "wrist", [2], [30], [b"\xff\xd8ddd"])
    frames = store.read_frames("e1")
    assert sorted(frames) == ["front", "wrist"]
    assert frames["wrist"].jpegs == [b"\xff\xd8a", b"\xff\xd8bb", b"\xff\xd8ddd"]
    assert frames["wrist"].t_ns.tolist() == [10, 20, 30]


def test_full_disk_raises_store_error_and_keeps_earlier_data(store):
    store.begin_episode("r1", "e1", "reach")
    store.append_steps("r1", "e1", 0, steps(0, 10))
    # The next chunk's temp file is the kernel's full device: writes fail with ENOSPC.
    tmp = store.root / "r1" / "e1" / "steps-000000010-10.npz.tmp"
    os.symlink("/dev/full", tmp)
    with pytest.raises(StoreError, match="disk full"):
        store.append_steps("r1", "e1", 10, steps(10, 10))
    assert not tmp.exists()
    assert store.durable_until("e1") == 10 and store.get("e1")["stored_steps"] == 10
    assert store.verify().ok
    assert store.append_steps("r1", "e1", 10, steps(10, 10)).durable_until == 20  # space again


def test_unwritable_directory_raises_store_error(tmp_path, store):
    store.begin_episode("r1", "e1", "reach")
    store.append_steps("r1", "e1", 0, steps(0, 5))
    store.begin_episode("r2", "e2", "reach")
    (store.root / "r2").write_text("not a directory")  # r2's chunks cannot be created
    with pytest.raises(StoreError, match="cannot write chunk"):
        store.append_steps("r2", "e2", 0, steps(0, 5))
    assert len(store.read_episode("e1")) == 5 and store.verify().ok
    blocked = tmp_path / "file"
    blocked.write_text("x")
    with pytest.raises(StoreError):
        EpisodeStore(blocked / "recordings")


def test_verify_detects_a_corrupted_chunk(store):
    store.begin_episode("r1", "e1", "reach")
    store.append_steps("r1", "e1", 0, steps(0, 10))
    path = next(store.root.rglob("steps-*.npz"))
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))
    rep = store.verify()
    assert not rep.ok and "digest mismatch" in rep.problems[0]


def test_schema_version_and_reopen(tmp_path):
    s = EpisodeStore(tmp_path)
    assert current_version(s.db) == SCHEMA_VERSION
    s.begin_episode("r1", "e1", "reach")
    s.close()
    s = EpisodeStore(tmp_path)
    assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s.get("e1")["status"] == "aborted"
    s.db.execute("UPDATE schema_version SET version = 999")
    s.close()
    with pytest.raises(StoreError, match="schema 999"):
        EpisodeStore(tmp_path)


def test_closing_compacts_chunks_and_reconcile_removes_leftovers(tmp_path):
    store = EpisodeStore(tmp_path)
    store.begin_episode("r1", "e1", "reach")
    for first in range(0, 30, 5):
        store.append_steps("r1", "e1", first, steps(first, 5, human=(10, 14)))
        store.append_frames("r1", "e1", "front", [first], [first], [b"\xff\xd8" + bytes([first])])
    small = sorted(p.name for p in (tmp_path / "r1" / "e1").iterdir())
    assert len(small) == 12
    store.end_episode("e1", steps=30)
    files = sorted(p.name for p in (tmp_path / "r1" / "e1").iterdir())
    assert len(files) == 2  # one steps chunk, one frames chunk
    np.testing.assert_array_equal(store.read_episode("e1").states, steps(0, 30)["state"])
    assert len(store.read_frames("e1")["front"].jpegs) == 6
    assert store.interventions("e1") == [{"start_step": 10, "end_step": 14, "operator": ""}]
    # A crash between the merged chunk's commit and the old files' removal leaves duplicates;
    # one written by the compaction but never committed is a duplicate too.
    from lwd_core.store.chunk_files import pack_chunk, write_atomic

    meta = {
        "kind": "steps",
        "robot": "r1",
        "episode": "e1",
        "task": "reach",
        "camera": "",
        "first_step": 5,
        "n": 5,
        "has_final": False,
    }
    write_atomic(
        tmp_path / "r1" / "e1" / "steps-000000005-5.npz",
        pack_chunk(meta, steps(5, 5, human=(10, 14))),
    )
    other = dict(meta, first_step=20)
    bad = steps(20, 5)
    bad["state"][0, 0] = 99.0  # same steps, other bytes: must be kept aside, not deleted
    write_atomic(tmp_path / "r1" / "e1" / "steps-000000020-5.npz", pack_chunk(other, bad))
    store.close()
    store = EpisodeStore(tmp_path)
    rep = store.reconcile_report
    assert rep.redundant_removed == 1 and rep.quarantined == [
        os.path.join("r1", "e1", "steps-000000020-5.npz")
    ]
    assert (tmp_path / "quarantine" / "r1" / "e1" / "steps-000000020-5.npz").exists()
    np.testing.assert_array_equal(store.read_episode("e1").states, steps(0, 30)["state"])
    assert store.verify().ok


def test_lost_index_is_rebuilt_from_chunk_files(tmp_path):
    store = EpisodeStore(tmp_path)
    store.begin_episode("r1", "e1", "reach")
    store.append_steps("r1", "e1", 0, steps(0, 10))
    store.append_steps("r1", "e1", 10, steps(10, 10))
    store.append_frames("r1", "e1", "front", [0], [0], [b"\xff\xd8x"])
    store.close()
    for name in ("index.sqlite", "index.sqlite-wal", "index.sqlite-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    store = EpisodeStore(tmp_path)  # every chunk is self-describing: the episode comes back
    assert store.reconcile_report.adopted == 3
    row = store.get("e1")
    assert (row["robot"], row["task"], row["status"], row["steps"]) == (
        "r1",
        "reach",
        "aborted",
        20,
    )
    np.testing.assert_array_equal(store.read_episode("e1").states, steps(0, 20)["state"])
    assert store.read_frames("e1")["front"].jpegs == [b"\xff\xd8x"]


def test_reads_stay_consistent_while_episodes_are_compacted(tmp_path):
    import threading

    store = EpisodeStore(tmp_path)
    failures, stop = [], threading.Event()

    def reader():
        while not stop.is_set():
            for row in store.list_episodes():
                try:
                    ep = store.read_episode(row["id"])
                    if len(ep):
                        assert ep.states[:, 0].tolist() == list(range(len(ep)))
                except Exception as e:  # noqa: BLE001 - any failure is the finding
                    failures.append(repr(e))

    t = threading.Thread(target=reader)
    t.start()
    for k in range(15):
        store.begin_episode("r", f"e{k}", "reach")
        for first in range(0, 40, 4):
            store.append_steps("r", f"e{k}", first, steps(first, 4))
        store.end_episode(f"e{k}", steps=40)
    stop.set()
    t.join()
    assert failures == []
    assert len(list((tmp_path / "r" / "e3").iterdir())) == 1
