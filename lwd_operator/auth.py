"""CurveZMQ authentication: key files, the hub's authenticator, and socket set-up.

Key directory layout (made by ``lwd keys init``)::

    server.key / server.key_secret     the hub's key pair (robots and clients need server.key)
    client.key / client.key_secret     the default identity of local robots and consoles
    authorized/<name>.key              public keys of every peer allowed to connect
    clients/<name>.key[_secret]        extra identities made by ``lwd keys add NAME``

Only peers whose public key is in ``authorized/`` get through the ZAP handshake; every refusal
is logged with the key so an operator can see who tried.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import shutil

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

log = logging.getLogger("lwd.auth")


class AuthError(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class ClientKeys:
    public: bytes
    secret: bytes
    server_public: bytes


def keys_path(keys_dir: str | pathlib.Path) -> pathlib.Path:
    return pathlib.Path(keys_dir).expanduser()


def init_keys(keys_dir: str | pathlib.Path, force: bool = False) -> pathlib.Path:
    """Create the server pair, a default client pair and ``authorized/``; idempotent."""
    d = keys_path(keys_dir)
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o700)
    (d / "authorized").mkdir(exist_ok=True)
    if force or not (d / "server.key_secret").exists():
        zmq.auth.create_certificates(d, "server")
    if force or not (d / "client.key_secret").exists():
        zmq.auth.create_certificates(d, "client")
    shutil.copy(d / "client.key", d / "authorized" / "client.key")
    return d


def add_client(keys_dir: str | pathlib.Path, name: str) -> pathlib.Path:
    """A new client identity ``name``, authorized; returns the directory holding its key pair."""
    if not name.replace("-", "").replace("_", "").isalnum():
        raise AuthError(f"client name {name!r}: use letters, digits, - and _")
    d = keys_path(keys_dir)
    if not (d / "server.key").exists():
        raise AuthError(f"no server keys in {d}: run `lwd keys init` first")
    cdir = d / "clients"
    cdir.mkdir(exist_ok=True)
    zmq.auth.create_certificates(cdir, name)
    shutil.copy(cdir / f"{name}.key", d / "authorized" / f"{name}.key")
    return cdir


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


class _Provider:
    """ZAP credentials callback: accepts keys found in ``authorized/``, logs every refusal."""

    def __init__(self, authorized: dict[bytes, str]):
        self.authorized = authorized
        self.refused = 0

    def callback(self, domain: str, z85: bytes) -> bool:
        if z85 in self.authorized:
            return True
        self.refused += 1
        log.warning("refused connection with unknown CURVE key %s", z85.decode())
        return False


class HubAuth:
    """The hub's side: a ZAP authenticator on ``ctx`` and the server key pair for its sockets."""

    def __init__(self, ctx: zmq.Context, keys_dir: str | pathlib.Path):
        d = keys_path(keys_dir)
        try:
            self.public, self.secret = zmq.auth.load_certificate(d / "server.key_secret")
        except (OSError, ValueError) as e:
            raise AuthError(f"cannot load server keys from {d}: {e} (run `lwd keys init`)") from None
        authorized: dict[bytes, str] = {}
        for f in sorted((d / "authorized").glob("*.key")):
            pub, _ = zmq.auth.load_certificate(f)
            authorized[pub] = f.stem
        if not authorized:
            raise AuthError(f"no authorized client keys in {d / 'authorized'}")
        self.provider = _Provider(authorized)
        self._auth = ThreadAuthenticator(ctx, log=logging.getLogger("lwd.auth.zap"))
        self._auth.start()
        self._auth.configure_curve_callback("*", credentials_provider=self.provider)

    def secure(self, sock: zmq.Socket) -> None:
        sock.curve_secretkey = self.secret
        sock.curve_publickey = self.public
        sock.curve_server = True

    def name_of(self, z85_key: bytes) -> str:
        return self.provider.authorized.get(z85_key, "?")

    def stop(self) -> None:
        self._auth.stop()


def secure_client(sock: zmq.Socket, keys: ClientKeys | None) -> None:
    """Make ``sock`` a CURVE client; ``keys`` None means explicitly insecure (flagged by caller)."""
    if keys is None:
        return
    sock.curve_secretkey = keys.secret
    sock.curve_publickey = keys.public
    sock.curve_serverkey = keys.server_public
