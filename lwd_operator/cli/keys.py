"""``lwd keys``: make and list the CurveZMQ keys that authenticate robots and operators."""

from __future__ import annotations

import sys

from lwd_operator.auth import AuthError, add_client, init_keys, keys_path
from lwd_operator.config import load_config


def add_arguments(p) -> None:
    p.add_argument("action", choices=["init", "add", "list"],
                   help="init: server + default client keys; add NAME: a new authorized client; list: authorized clients")
    p.add_argument("name", nargs="?", help="client name for `add`")
    p.add_argument("--keys-dir", help="key directory (default from config: ~/.config/lwd/keys)")
    p.add_argument("--config", help="TOML configuration file")
    p.add_argument("--force", action="store_true", help="with init: replace existing keys (every peer must get the new ones)")


def run(args) -> int:
    d = args.keys_dir or load_config(args.config).hub.keys_dir
    try:
        if args.action == "init":
            path = init_keys(d, force=args.force)
            print(f"keys in {path}: server.key (give to peers), client.key_secret (default identity), authorized/")
        elif args.action == "add":
            if not args.name:
                sys.exit("lwd keys add: give a NAME")
            cdir = add_client(d, args.name)
            print(f"new client {args.name}: {cdir / (args.name + '.key_secret')} (copy it with server.key to that machine)")
        else:
            for f in sorted((keys_path(d) / "authorized").glob("*.key")):
                print(f.stem)
    except AuthError as e:
        sys.exit(f"lwd keys: {e}")
    return 0
