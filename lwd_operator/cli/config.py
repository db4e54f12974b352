"""``lwd config``: print the effective configuration, every field documented."""

from __future__ import annotations

import sys

from lwd_operator.config import ConfigError, dump_config, load_config


def add_arguments(p) -> None:
    p.add_argument("--config", help="TOML configuration file to read (default: $LWD_CONFIG or ./lwd.toml)")


def run(args) -> int:
    try:
        print(dump_config(load_config(args.config)), end="")
    except ConfigError as e:
        sys.exit(f"lwd config: {e}")
    return 0
