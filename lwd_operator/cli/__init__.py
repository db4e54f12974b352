"""``lwd``: the command line of LWD Operator.

The CLI layer only parses arguments and calls the service modules; it is the only package that
imports argparse (``tests/test_layering.py``). Each subcommand lives in its own module here.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from lwd_core.learning.cpu_placement import prefer_passive_openmp

# name -> (module, one-line help). Modules expose ``add_arguments(parser)`` and ``run(args)``.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("lwd_operator.cli.demo", "one command: hub + simulated fleet + operator bot + live view"),
    "hub": ("lwd_operator.cli.hub", "run the hub: fleet registry, takeover lock, frame relay, recorder"),
    "robot": ("lwd_operator.cli.robot", "run one robot node (simulated Meta-World or a real driver)"),
    "fleet": ("lwd_operator.cli.fleet", "start N simulated robots"),
    "operator-bot": ("lwd_operator.cli.bot", "simulated operator that rescues failing robots"),
    "status": ("lwd_operator.cli.status", "live terminal table of the fleet"),
    "console": ("lwd_operator.cli.console", "the operator console (PyQt6): camera wall, takeover, review, learning"),
    "tui": ("lwd_operator.cli.tui", "terminal UI: fleet, attention queue, alerts, episodes, learning (Textual)"),
    "keys": ("lwd_operator.cli.keys", "make and list CurveZMQ keys"),
    "gen-data": ("lwd_operator.cli.gen_data", "offline Meta-World data from scripted experts with action noise"),
    "train": ("lwd_operator.cli.train", "offline training: BC reference, then DIVL + QAM (or a baseline)"),
    "learn": ("lwd_operator.cli.learn", "the learner service: learns from the fleet's episodes, proposes candidates"),
    "policy": ("lwd_operator.cli.policy", "policy versions: list, show, publish, deploy, promote, roll back, pin"),
    "config": ("lwd_operator.cli.config", "print the effective configuration as documented TOML"),
    "episodes": ("lwd_operator.cli.episodes", "list, inspect, label, export, import and verify recorded episodes"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``lwd`` parser. Every command is listed, but only ``command``'s module is imported
    (all of them when None): some import torch, which takes seconds, and a hub or a robot
    should not pay for it at every start."""
    p = argparse.ArgumentParser(
        prog="lwd",
        description="LWD Operator: supervise a robot fleet and improve its shared policy while it works.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        if command is None or name == command:
            importlib.import_module(module).add_arguments(sp)
        sp.set_defaults(_module=module)
    return p


def command_of(argv: list[str]) -> str:
    """The subcommand named in ``argv`` ("" when none is): the first word that is no option."""
    return next((a for a in argv if not a.startswith("-")), "")


def main(argv: list[str] | None = None) -> int:
    # Before any command module imports torch: OpenMP threads that sleep rather than spin while
    # waiting, so that learner, robots and hub share two cores without stealing them from each
    # other (measured: lwd_core/learning/cpu_placement.py). OMP_WAIT_POLICY set outside wins.
    prefer_passive_openmp()
    argv = sys.argv[1:] if argv is None else argv
    command = command_of(argv)
    parser = build_parser(command if command in COMMANDS else "")
    args = parser.parse_args(argv)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    return int(importlib.import_module(args._module).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
