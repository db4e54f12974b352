"""Idempotency under any order of resends: the stored episode equals what was sent, once."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lwd_core.store import EpisodeStore
from lwd_core.store.ranges import Ranges


def rows(first: int, n: int) -> dict[str, np.ndarray]:
    idx = np.arange(first, first + n)
    return {
        "state": idx[:, None].astype(np.float32),
        "action": -idx[:, None].astype(np.float32),
        "source": (idx % 5 == 0).astype(np.uint8),
        "policy_version": np.ones(n, np.int32),
        "t_ns": idx.astype(np.int64),
    }


batches = st.lists(st.tuples(st.integers(0, 60), st.integers(1, 15)), min_size=1, max_size=25)


@given(
    spans=st.lists(st.tuples(st.integers(0, 50), st.integers(0, 10)), max_size=20),
    probe=st.tuples(st.integers(0, 60), st.integers(0, 10)),
)
def test_ranges_match_a_set_model(spans, probe):
    r, model = Ranges(), set()
    for a, n in spans:
        r.add(a, a + n)
        model |= set(range(a, a + n))
    a, n = probe
    missing = {s for m in r.missing(a, a + n) for s in range(*m)}
    assert missing == set(range(a, a + n)) - model
    prefix = 0
    while prefix in model:
        prefix += 1
    assert r.prefix_end() == prefix and r.total() == len(model)


@settings(max_examples=25, deadline=None)
@given(order=batches)
def test_any_resend_order_stores_each_step_once(tmp_path_factory, order):
    store = EpisodeStore(tmp_path_factory.mktemp("rec"))
    covered = set()
    for first, n in order:
        res = store.append_steps("r", "e", first, rows(first, n))
        new = set(range(first, first + n)) - covered
        assert res.written == len(new) and res.duplicates == n - len(new)
        covered |= new
    prefix = 0
    while prefix in covered:
        prefix += 1
    row = store.get("e")
    assert row["stored_steps"] == len(covered) and row["steps"] == prefix
    s = store.read_steps("e", prefix_only=False)
    assert s["step"].tolist() == sorted(covered)
    assert s["state"][:, 0].tolist() == sorted(covered)
    assert store.read_episode("e").states[:, 0].tolist() == list(range(prefix))
    store.close()
