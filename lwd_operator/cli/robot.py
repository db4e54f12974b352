"""``lwd robot``: run one robot node (a simulated Meta-World robot, or a registered real driver)."""

from __future__ import annotations

import signal
import sys

import numpy as np

from lwd_operator.cli.common import add_hub_args, resolve


def add_arguments(p) -> None:
    add_hub_args(p)
    p.set_defaults(identity="robot")  # robots speak with a robot key (made by `lwd keys init`)
    p.add_argument("--driver", default="sim:metaworld/push-v3",
                   help="driver and task, e.g. sim:metaworld/push-v3 (default)")
    p.add_argument("--id", dest="robot_id", default="sim-0", help="robot id, unique in the fleet")
    p.add_argument("--policy", help="noise, hold, or a policy snapshot directory (lwd train); default from config: noise")
    p.add_argument("--camera", help="simulated camera: mujoco, synthetic or none (default from config: mujoco)")
    p.add_argument("--camera-fps", type=float, help="camera rate (default from config: 10)")
    p.add_argument("--camera-size", type=int, help="square image size (default from config: 96)")
    p.add_argument("--hz", type=float, help="control rate (default from config: 20)")
    p.add_argument("--fast", action="store_true", help="step as fast as possible (benchmarks)")
    p.add_argument("--tick-phase", type=float, metavar="F",
                   help="tick at this fraction of the control period on the host clock, in [0, 1) "
                        "(lwd fleet spreads its robots' phases evenly; default: wherever it starts)")
    p.add_argument("--seed", type=int, default=0, help="seed for initial states and the noise policy")
    p.add_argument("--max-steps", type=int, help="episode length limit in ticks (default from config: 300)")
    shift = p.add_argument_group("distribution shift (simulation)")
    shift.add_argument("--action-noise", type=float, default=0.0, help="std of noise added to applied actions")
    shift.add_argument("--obj-range-scale", type=float, default=1.0, help="scale of the object/goal placement range")
    shift.add_argument("--latency-ticks", type=int, default=0, help="actions take effect this many ticks late")


def run(args) -> int:
    from lwd_operator.robot.driver import DRIVERS
    from lwd_operator.robot.help_signal import HelpConfig
    from lwd_operator.robot.node import NodeConfig, RobotNode
    from lwd_operator.robot.policies import make_builtin
    from lwd_operator.sim.metaworld_driver import parse_driver_spec

    cfg, endpoints, keys = resolve(args)
    rc = cfg.robot
    name, task = parse_driver_spec(args.driver)
    if name not in DRIVERS:
        sys.exit(f"lwd robot: unknown driver {name!r}; available: {', '.join(DRIVERS)}")
    drv_cls = DRIVERS[name]
    try:
        drv = drv_cls(drv_cls.config_class(
            task=task, seed=args.seed, camera=args.camera or rc.camera,
            camera_size=args.camera_size or rc.camera_size, action_noise=args.action_noise,
            obj_range_scale=args.obj_range_scale, latency_ticks=args.latency_ticks))
        policy = make_builtin(args.policy or rc.policy, np.array([0, 0, 0, -1], np.float32), seed=args.seed)
    except (ValueError, TypeError, KeyError) as e:  # SnapshotError is a ValueError
        sys.exit(f"lwd robot: {e}")
    flow = getattr(policy, "flow", None)
    if flow is not None and task not in flow.task_index:
        sys.exit(f"lwd robot: the policy snapshot knows tasks {sorted(flow.task_index)}, not {task!r}")
    if args.tick_phase is not None and not 0 <= args.tick_phase < 1:
        sys.exit(f"lwd robot: --tick-phase must be in [0, 1), not {args.tick_phase}")
    node = RobotNode(
        NodeConfig(robot_id=args.robot_id, control_hz=args.hz or rc.control_hz, fast=args.fast,
                   tick_phase=args.tick_phase, max_episode_steps=args.max_steps or rc.max_episode_steps,
                   teleop_hold_ms=rc.teleop_hold_ms, deadman_ms=cfg.hub.deadman_ms, stall_s=rc.stall_s,
                   help=HelpConfig(tau=rc.help_tau, drop=rc.help_drop, falling_chunks=rc.help_falling_chunks,
                                   warmup_chunks=rc.help_warmup_chunks, phase_chunks=rc.help_phase_chunks),
                   preload_torch=rc.preload_torch, policy_build_slots=rc.build_slots),
        drv, policy, endpoints, keys,
        camera_fps=args.camera_fps if args.camera_fps is not None else rc.camera_fps)
    signal.signal(signal.SIGTERM, lambda *_: node._stop.set())
    try:
        node.run()
    except KeyboardInterrupt:
        pass
    return 0
