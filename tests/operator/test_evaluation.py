"""Evaluation harness: experts score high, a random policy scores low, intervals are sane."""

import numpy as np

from lwd_operator.evaluation import EvalResult, evaluate, expert_policy


def test_expert_scores_high_and_random_low():
    tasks = ["reach-v3", "drawer-close-v3"]
    good = evaluate(expert_policy(tasks), tasks, episodes=4, max_steps=150, execute=1)
    assert [r.successes for r in good] == [4, 4]
    rng = np.random.default_rng(0)
    bad = evaluate(lambda o, t: rng.uniform(-1, 1, (len(o), 4, 4)).astype(np.float32), ["push-v3"],
                   episodes=4, max_steps=60)
    assert bad[0].successes == 0 and bad[0].episodes == 4


def test_wilson_interval():
    lo, hi = EvalResult("t", 20, 10).wilson()
    assert 0.29 < lo < 0.30 and 0.70 < hi < 0.71
    assert EvalResult("t", 10, 10).wilson()[1] == 1.0
