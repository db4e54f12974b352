"""CPU placement of the learner: the OpenMP wait policy is asked for before torch loads, an
explicit choice in the environment wins, and place_learner caps threads and lowers priority.
Each case runs in a fresh interpreter (the policy is read once per process, niceness sticks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def run_py(code: str, **env) -> dict:
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env={**base, "PYTHONPATH": ROOT, **env},
                         capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_passive_policy_is_asked_for_before_torch_loads():
    r = run_py("import json, os; from lwd_core.learning.cpu_placement import prefer_passive_openmp as p;"
               "ok = p(); import torch; print(json.dumps([ok, os.environ['OMP_WAIT_POLICY']]))")
    assert r == [True, "PASSIVE"]


def test_too_late_or_overridden_is_reported_not_forced():
    late = run_py("import json, torch; from lwd_core.learning.cpu_placement import prefer_passive_openmp as p;"
                  "print(json.dumps(p()))")
    assert late is False  # torch (and OpenMP) already loaded: the policy cannot change any more
    chosen = run_py("import json, os; from lwd_core.learning.cpu_placement import prefer_passive_openmp as p;"
                    "print(json.dumps([p(), os.environ['OMP_WAIT_POLICY']]))", OMP_WAIT_POLICY="ACTIVE")
    assert chosen == [False, "ACTIVE"]


CLI_PROBE = """
import contextlib, io, json, os, sys
import lwd_operator.cli as cli
seen = {}
build = cli.build_parser

def probe(*a, **k):  # what the environment looks like when the command modules start to load
    seen.update(policy=os.environ.get("OMP_WAIT_POLICY"), torch_loaded="torch" in sys.modules)
    return build(*a, **k)

cli.build_parser = probe
with contextlib.redirect_stdout(io.StringIO()):
    cli.main(["config"])
print(json.dumps(seen))
"""


def test_the_cli_asks_for_the_passive_policy_first():
    assert run_py(CLI_PROBE) == {"policy": "PASSIVE", "torch_loaded": False}


def test_place_learner_caps_threads_and_lowers_priority():
    r = run_py("import json, os; from lwd_core.learning.cpu_placement import place_learner;"
               "before = os.nice(0); p = place_learner(1, nice=3);"
               "print(json.dumps([before, p.threads, p.nice]))")
    before, threads, nice = r
    assert threads == 1 and nice == min(before + 3, 19)
