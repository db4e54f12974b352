"""CurveZMQ authentication: key files, roles, the hub's authenticator, and socket set-up.

Key directory layout (made by ``lwd keys init``)::

    server.key / server.key_secret     the hub's key pair (robots and clients need server.key)
    client.key / client.key_secret     the default console identity (role admin)
    authorized/<name>.key              public keys of every peer allowed to connect; the
                                       certificate's metadata holds its role and robot ids
    clients/<name>.key[_secret]        further identities (``init_keys`` makes robot, operator,
                                       observer and learner; ``lwd keys add NAME --role ...``)

A key is an identity: the hub learns the key's name from the ZAP handshake (the ZAP User-Id of
every message is the key's name) and looks up its role in the authorized certificate. Only
peers whose public key is in ``authorized/`` get through; every refusal is logged with the key,
at most once per key per minute (a peer retrying every 150 ms must not flood the log).
Secret key files are mode 0600 and the directory 0700.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
import re
import shutil
import time

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from lwd_operator.hub.authz import ROLES, Identity

log = logging.getLogger("lwd.auth")

DEFAULT_KEYS: dict[str, tuple[str, tuple[str, ...]]] = {
    "client": ("admin", ()),
    "robot": ("robot", ("*",)),
    "operator": ("operator", ()),
    "observer": ("observer", ()),
    "learner": ("learner", ()),
}
"""What ``init_keys`` makes: key name -> (role, robot id globs)."""

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ROBOT_GLOB = re.compile(r"^[A-Za-z0-9_.*?\-]{1,64}$")


class AuthError(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class ClientKeys:
    public: bytes
    secret: bytes
    server_public: bytes


def keys_path(keys_dir: str | pathlib.Path) -> pathlib.Path:
    return pathlib.Path(keys_dir).expanduser()


def _make_pair(directory: pathlib.Path, name: str, role: str, robots: tuple[str, ...]) -> None:
    meta = {"role": role, "robots": ",".join(robots)}
    public_file, secret_file = zmq.auth.create_certificates(directory, name, metadata=meta)
    os.chmod(secret_file, 0o600)
    # pyzmq writes metadata into the secret certificate only; the public one (the copy that
    # goes to authorized/, which the hub reads) must carry the role too.
    public, _ = zmq.auth.load_certificate(public_file)
    lines = [f"#   LWD identity {name}: role {role}", "metadata"]
    lines += [f'    {k} = "{v}"' for k, v in meta.items()]
    lines += ["curve", f'    public-key = "{public.decode()}"', ""]
    pathlib.Path(public_file).write_text("\n".join(lines))


def _check_role(name: str, role: str, robots: tuple[str, ...]) -> None:
    if not _NAME.match(name):
        raise AuthError(f"key name {name!r}: use 1-64 letters, digits, - and _")
    if role not in ROLES:
        raise AuthError(f"role {role!r}: one of {', '.join(ROLES)}")
    if role == "robot" and not robots:
        raise AuthError("a robot key needs at least one --robot ID (a glob such as sim-* is allowed)")
    if role != "robot" and robots:
        raise AuthError("--robot is only for robot keys")
    for r in robots:
        if not _ROBOT_GLOB.match(r) or ".." in r:
            raise AuthError(f"robot id {r!r}: letters, digits, - _ . and the globs * ?")


def init_keys(keys_dir: str | pathlib.Path, force: bool = False) -> pathlib.Path:
    """Create the server pair, the default identities (``DEFAULT_KEYS``) and ``authorized/``.

    Idempotent: existing pairs are kept unless ``force``. Secret files are made 0600.
    """
    d = keys_path(keys_dir)
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o700)
    (d / "authorized").mkdir(exist_ok=True)
    (d / "clients").mkdir(exist_ok=True)
    if force or not (d / "server.key_secret").exists():
        zmq.auth.create_certificates(d, "server")
    os.chmod(d / "server.key_secret", 0o600)
    for name, (role, robots) in DEFAULT_KEYS.items():
        where = d if name == "client" else d / "clients"
        if force or not (where / f"{name}.key_secret").exists():
            _make_pair(where, name, role, robots)
        os.chmod(where / f"{name}.key_secret", 0o600)
        shutil.copy(where / f"{name}.key", d / "authorized" / f"{name}.key")
    return d


def add_client(keys_dir: str | pathlib.Path, name: str, role: str = "operator",
               robots: tuple[str, ...] | list[str] = ()) -> pathlib.Path:
    """A new identity ``name`` with ``role`` (and robot id globs for a robot), authorized;
    returns the directory holding its key pair."""
    robots = tuple(robots)
    _check_role(name, role, robots)
    d = keys_path(keys_dir)
    if not (d / "server.key").exists():
        raise AuthError(f"no server keys in {d}: run `lwd keys init` first")
    if name in ("client", "server"):
        raise AuthError(f"{name!r} is reserved")
    cdir = d / "clients"
    cdir.mkdir(exist_ok=True)
    _make_pair(cdir, name, role, robots)
    shutil.copy(cdir / f"{name}.key", d / "authorized" / f"{name}.key")
    return cdir


def ensure_key(keys_dir: str | pathlib.Path, name: str, role: str,
               robots: tuple[str, ...] | list[str] = ()) -> ClientKeys:
    """The key pair ``name``, made (with ``role`` and ``robots``) if it does not exist yet."""
    d = keys_path(keys_dir)
    where = d if name == "client" else d / "clients"
    if not (where / f"{name}.key_secret").exists():
        add_client(d, name, role=role, robots=robots)
    return load_client_keys(d, name)


def read_identity(cert: pathlib.Path) -> Identity:
    """The identity stored in a public certificate's metadata (name = file stem).

    A certificate without metadata (keys made before roles existed) is an observer: it may
    watch, never act.
    """
    meta: dict[str, str] = {}
    in_meta = False
    for line in cert.read_text().splitlines():
        s = line.strip()
        if not line.startswith((" ", "\t")):
            in_meta = s == "metadata"
            continue
        if in_meta and "=" in s:
            k, v = s.split("=", 1)
            meta[k.strip()] = v.strip().strip('"')
    role = meta.get("role", "observer")
    robots = tuple(r for r in meta.get("robots", "").split(",") if r)
    if role not in ROLES:
        log.warning("key %s has unknown role %r: treated as observer", cert.stem, role)
        role, robots = "observer", ()
    return Identity(cert.stem, role, robots)


def list_identities(keys_dir: str | pathlib.Path) -> list[Identity]:
    d = keys_path(keys_dir)
    return [read_identity(f) for f in sorted((d / "authorized").glob("*.key"))]


def load_client_keys(keys_dir: str | pathlib.Path, name: str = "client") -> ClientKeys:
    d = keys_path(keys_dir)
    secret_file = d / f"{name}.key_secret" if name == "client" else d / "clients" / f"{name}.key_secret"
    try:
        server_public, _ = zmq.auth.load_certificate(d / "server.key")
        public, secret = zmq.auth.load_certificate(secret_file)
    except (OSError, ValueError) as e:
        raise AuthError(f"cannot load client keys {name!r} from {d}: {e} (run `lwd keys init`)") from None
    if secret is None:
        raise AuthError(f"{secret_file} holds no secret key")
    return ClientKeys(public, secret, server_public)


def read_authorized(keys_dir: str | pathlib.Path) -> dict[bytes, Identity]:
    """Public key (z85) -> identity, for every certificate in ``authorized/``."""
    out: dict[bytes, Identity] = {}
    for f in sorted((keys_path(keys_dir) / "authorized").glob("*.key")):
        try:
            pub, _ = zmq.auth.load_certificate(f)
            out[pub] = read_identity(f)
        except (OSError, ValueError) as e:
            log.warning("ignoring unreadable certificate %s: %s", f, e)
    return out


class _Provider:
    """ZAP credentials callback: accepts keys found in ``authorized/``, logs refusals (throttled).

    An unknown key makes it re-read ``authorized/`` when that folder changed since the last
    read (one ``stat``), so a key added with ``lwd keys add`` works without restarting the hub.
    """

    def __init__(self, keys_dir: pathlib.Path, authorized: dict[bytes, Identity]):
        self.keys_dir = keys_dir
        self.authorized = authorized
        self.names: dict[str, Identity] = {i.name: i for i in authorized.values()}
        self.refused = 0
        self._last_logged: dict[bytes, tuple[float, int]] = {}
        self._mtime = self._folder_mtime()

    def _folder_mtime(self) -> int:
        try:
            return (self.keys_dir / "authorized").stat().st_mtime_ns
        except OSError:
            return 0

    def reload(self) -> None:
        fresh = read_authorized(self.keys_dir)
        for k in [k for k in self.authorized if k not in fresh]:
            del self.authorized[k]  # in place: the ZAP and hub threads share these dicts
        self.authorized.update(fresh)
        self.names.update({i.name: i for i in fresh.values()})
        for n in [n for n in self.names if n not in {i.name for i in fresh.values()}]:
            del self.names[n]

    def callback(self, domain: str, z85: bytes) -> bool:
        if z85 in self.authorized:
            return True
        mtime = self._folder_mtime()
        if mtime != self._mtime:
            self._mtime = mtime
            self.reload()
            if z85 in self.authorized:
                return True
        self.refused += 1
        now = time.monotonic()
        last, suppressed = self._last_logged.get(z85, (-1e9, 0))
        if now - last >= 60.0:
            more = f" ({suppressed} more refusals in the last minute)" if suppressed else ""
            log.warning("refused connection with unknown CURVE key %s%s", z85.decode(), more)
            if len(self._last_logged) > 10_000:
                self._last_logged.clear()
            self._last_logged[z85] = (now, 0)
        else:
            self._last_logged[z85] = (last, suppressed + 1)
        return False


class _NamingAuthenticator(ThreadAuthenticator):
    """Sets the ZAP User-Id of every accepted connection to the key's name."""

    provider: _Provider

    def curve_user_id(self, client_public_key: bytes) -> str:
        ident = self.provider.authorized.get(zmq.utils.z85.encode(client_public_key))
        return ident.name if ident else "?"


class HubAuth:
    """The hub's side: a ZAP authenticator on ``ctx`` and the server key pair for its sockets."""

    def __init__(self, ctx: zmq.Context, keys_dir: str | pathlib.Path):
        d = keys_path(keys_dir)
        try:
            self.public, self.secret = zmq.auth.load_certificate(d / "server.key_secret")
        except (OSError, ValueError) as e:
            raise AuthError(f"cannot load server keys from {d}: {e} (run `lwd keys init`)") from None
        authorized = read_authorized(d)
        if not authorized:
            raise AuthError(f"no authorized client keys in {d / 'authorized'}")
        self.provider = _Provider(d, authorized)
        self.identities = self.provider.names
        """Key name (the ZAP User-Id) -> identity; kept current as keys are added."""
        self._auth = _NamingAuthenticator(ctx, log=logging.getLogger("lwd.auth.zap"))
        self._auth.provider = self.provider
        self._auth.start()
        self._auth.configure_curve_callback("*", credentials_provider=self.provider)

    def secure(self, sock: zmq.Socket) -> None:
        sock.curve_secretkey = self.secret
        sock.curve_publickey = self.public
        sock.curve_server = True

    def name_of(self, z85_key: bytes) -> str:
        ident = self.provider.authorized.get(z85_key)
        return ident.name if ident else "?"

    def identity(self, user_id: str) -> Identity | None:
        """The identity of a message's ZAP User-Id (None: not an authorized key)."""
        return self.identities.get(user_id)

    def stop(self) -> None:
        self._auth.stop()


def secure_client(sock: zmq.Socket, keys: ClientKeys | None) -> None:
    """Make ``sock`` a CURVE client; ``keys`` None means explicitly insecure (flagged by caller)."""
    if keys is None:
        return
    sock.curve_secretkey = keys.secret
    sock.curve_publickey = keys.public
    sock.curve_serverkey = keys.server_public
