"""Arguments shared by every command that talks to a hub, and the logging set-up."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from lwd_operator.auth import AuthError, ClientKeys, load_client_keys
from lwd_operator.config import Config, ConfigError, field_docs, load_config
from lwd_operator.sockets import Endpoints


def add_hub_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("hub connection")
    g.add_argument("--config", help="TOML configuration file (default: $LWD_CONFIG or ./lwd.toml)")
    g.add_argument("--host", help="hub address (default from config: 127.0.0.1)")
    g.add_argument("--port", type=int, help="hub base port; it uses this and the next 3 (default 5750)")
    g.add_argument("--keys-dir", help="CurveZMQ key directory (default ~/.config/lwd/keys; make with `lwd keys init`)")
    g.add_argument("--identity", default="client",
                   help="which key pair to use: its name and role are who you are to the hub "
                        "(default: client, an admin; robots default to robot, the bot to operator)")
    g.add_argument("--insecure-no-auth", action="store_true",
                   help="talk to the hub WITHOUT authentication or encryption (trusted test rigs only)")
    g.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")


def setup_logging(verbose: int = 0) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)


def resolve(args) -> tuple[Config, Endpoints, ClientKeys | None]:
    """Effective config (file + flags), hub endpoints and client keys; exits with a clear message."""
    setup_logging(getattr(args, "verbose", 0))
    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        sys.exit(f"lwd: {e}")
    hub = cfg.hub
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port), ("keys_dir", args.keys_dir)) if v is not None}
    if overrides:
        cfg = dataclasses.replace(cfg, hub=dataclasses.replace(hub, **overrides))
    keys = None
    if not args.insecure_no_auth:
        try:
            keys = load_client_keys(cfg.hub.keys_dir, args.identity)
        except AuthError as e:
            sys.exit(f"lwd: {e}")
    return cfg, Endpoints(cfg.hub.host, cfg.hub.port), keys




def add_dataclass_arguments(p: argparse.ArgumentParser, cls, title: str) -> None:
    """One ``--flag`` per field of a frozen config dataclass, its docstring as the help."""
    g = p.add_argument_group(title)
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        g.add_argument(flag, dest=f"cfg_{f.name}", type=type(f.default), default=None, metavar=f.name.upper(),
                       help=f"{docs.get(f.name, '')} (default {f.default})")


def dataclass_from_args(cls, args, **extra):
    kw = {f.name: getattr(args, f"cfg_{f.name}") for f in dataclasses.fields(cls)
          if getattr(args, f"cfg_{f.name}", None) is not None}
    return cls(**{**kw, **extra})
