"""TLS and basic auth from a web config file in the Prometheus exporter-toolkit format.

tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert   # optional, with client_ca_file
  client_ca_file: ca.crt
basic_auth_users:
  prometheus: $2b$12$...   # bcrypt hash
"""

from __future__ import annotations

import base64
import hashlib
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import yaml

from monitor.config import ConfigError

_TLS_KEYS = {"cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version"}
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
FAILED_REMEMBERED = 4096  # wrong user:password pairs answered from memory, the newest
_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}


@dataclass
class WebConfig:
    tls: ssl.SSLContext | None = None
    users: dict[str, bytes] = field(default_factory=dict)
    _verified: set[str] = field(default_factory=set)  # bcrypt is slow by design: cache hits
    # Refused pairs, so one client retrying a wrong password costs one check, not one a
    # request; oldest forgotten first.
    _refused: dict[str, None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # An unknown user's password is checked against this, at the users' own bcrypt cost:
    # a user that does not exist takes as long to refuse as a wrong password.
    _dummy: bytes = b""

    def __post_init__(self) -> None:
        if self.users and not self._dummy:
            cost = max(_cost(h) for h in self.users.values())
            self._dummy = bcrypt.hashpw(b"never a password", bcrypt.gensalt(rounds=cost))

    def cached(self, header: str | None) -> bool | None:
        """The answer when it needs no bcrypt check (no users, a malformed header, a
        password verified before); None when only ``authorized`` can tell."""
        if not self.users:
            return True
        credentials = _credentials(header)
        if credentials is None:
            return False
        token = _token(*credentials)
        with self._lock:
            if token in self._verified:
                return True
            return False if token in self._refused else None

    def authorized(self, header: str | None) -> bool:
        """True when no users are configured, or the Basic header matches one."""
        quick = self.cached(header)
        if quick is not None:
            return quick
        credentials = _credentials(header)
        assert credentials is not None  # cached() said False otherwise
        user, password = credentials
        # Unknown users cost a bcrypt check too, so timing does not reveal who exists.
        hashed = self.users.get(user, self._dummy)
        good = bcrypt.checkpw(password.encode(), hashed) and user in self.users
        with self._lock:
            if good:
                self._verified.add(_token(user, password))
            else:
                self._refused[_token(user, password)] = None
                while len(self._refused) > FAILED_REMEMBERED:
                    del self._refused[next(iter(self._refused))]
        return good


def _cost(hashed: bytes) -> int:
    """The work factor written in a bcrypt hash (``$2b$12$…``: 12)."""
    try:
        return max(4, min(31, int(hashed.split(b"$")[2])))
    except (IndexError, ValueError):
        return 12


def _credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def _token(user: str, password: str) -> str:
    return hashlib.sha256(f"{user}:{password}".encode()).hexdigest()


def load(path: str | None) -> WebConfig:
    """Read a web config file; None means plain HTTP without auth."""
    if path is None:
        return WebConfig()
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError([f"{path}: {exc}"]) from exc
    unknown = set(raw) - {"tls_server_config", "basic_auth_users", "http_server_config"}
    if unknown:
        raise ConfigError([f"{path}: unknown key {sorted(unknown)[0]!r}"])
    users = {str(u): str(h).encode() for u, h in (raw.get("basic_auth_users") or {}).items()}
    for user, hashed in users.items():
        try:
            bcrypt.checkpw(b"", hashed)
        except ValueError as exc:
            raise ConfigError([f"{path}: basic_auth_users.{user}: not a bcrypt hash"]) from exc
    tls = raw.get("tls_server_config")
    return WebConfig(_tls_context(path, tls) if tls else None, users)


def _tls_context(path: str, tls: dict) -> ssl.SSLContext:
    unknown = set(tls) - _TLS_KEYS
    if unknown or "cert_file" not in tls or "key_file" not in tls:
        why = f"unknown key {sorted(unknown)[0]!r}" if unknown else "needs cert_file and key_file"
        raise ConfigError([f"{path}: tls_server_config: {why}"])
    base = Path(path).parent
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    version = tls.get("min_version", "TLS12")
    if version not in _VERSIONS:
        raise ConfigError(
            [f"{path}: tls_server_config.min_version: {version!r} is not TLS12 or TLS13"]
        )
    context.minimum_version = _VERSIONS[version]
    try:
        context.load_cert_chain(base / tls["cert_file"], base / tls["key_file"])
        mode = tls.get("client_auth_type", "NoClientCert")
        if mode == "RequireAndVerifyClientCert" and not tls.get("client_ca_file"):
            raise KeyError(f"{mode} needs client_ca_file")
        context.verify_mode = _CLIENT_AUTH[mode]
        if tls.get("client_ca_file"):
            context.load_verify_locations(base / tls["client_ca_file"])
    except (OSError, ssl.SSLError, KeyError) as exc:
        raise ConfigError([f"{path}: tls_server_config: {exc}"]) from exc
    return context
