"""``lwd keys``: make and list the CurveZMQ keys that authenticate robots and operators.

Each key is an identity with a role (robot, observer, operator, learner, admin); robot keys are
bound to robot ids (globs such as ``sim-*`` allowed). The hub enforces what each role may do.
"""

from __future__ import annotations

import sys

from lwd_operator.auth import DEFAULT_KEYS, AuthError, add_client, init_keys, list_identities
from lwd_operator.config import load_config
from lwd_operator.hub.authz import ROLES


def add_arguments(p) -> None:
    p.add_argument("action", choices=["init", "add", "list"],
                   help="init: server key + default identities; add NAME: a new authorized identity; "
                        "list: authorized identities with their roles")
    p.add_argument("name", nargs="?", help="identity name for `add` (shown to others and in labels)")
    p.add_argument("--role", choices=ROLES, default="operator",
                   help="with add: what the key may do (default operator)")
    p.add_argument("--robot", action="append", default=[], metavar="ID",
                   help="with add --role robot: robot id the key may speak for (repeat; globs like sim-*)")
    p.add_argument("--keys-dir", help="key directory (default from config: ~/.config/lwd/keys)")
    p.add_argument("--config", help="TOML configuration file")
    p.add_argument("--force", action="store_true", help="with init: replace existing keys (every peer must get the new ones)")


def run(args) -> int:
    d = args.keys_dir or load_config(args.config).hub.keys_dir
    try:
        if args.action == "init":
            path = init_keys(d, force=args.force)
            made = ", ".join(f"{n} ({r})" for n, (r, _) in DEFAULT_KEYS.items())
            print(f"keys in {path}: server.key (give to peers); identities {made}; authorized/")
        elif args.action == "add":
            if not args.name:
                sys.exit("lwd keys add: give a NAME")
            cdir = add_client(d, args.name, role=args.role, robots=args.robot)
            print(f"new {args.role} {args.name}: {cdir / (args.name + '.key_secret')} "
                  "(copy it with server.key to that machine)")
        else:
            for ident in list_identities(d):
                robots = f"  robots {','.join(ident.robots)}" if ident.robots else ""
                print(f"{ident.name:<20} {ident.role:<9}{robots}")
    except AuthError as e:
        sys.exit(f"lwd keys: {e}")
    return 0
