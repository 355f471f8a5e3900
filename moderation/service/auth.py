"""Moderator accounts, signed session cookies and CSRF tokens for the review page.

Accounts live in a plain text file (``settings.users_file``), one ``name:hash`` per line,
so an operator can provision them with `moderation users add` and read them with any
editor, with no database migration. Hashes are scrypt (memory-hard, in the standard
library) with a random salt per password; the parameters are stored in the hash so they
can be raised later without invalidating old accounts.

Sessions are stateless cookies signed with HMAC-SHA256 (no extra dependency): the payload
holds the moderator's name, a random session id, a per-session CSRF token and the time it
was issued. The server keeps only the ids of sessions signed out before they expired.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from moderation.errors import ModerationError

__all__ = [
    "AccountError",
    "Session",
    "SessionSigner",
    "SignInThrottle",
    "add_user",
    "check_name",
    "hash_password",
    "read_users",
    "remove_user",
    "verify_password",
    "verify_user",
]

#: scrypt cost: N=2**14, r=8 needs 16 MiB and ~50 ms per check on the development machines.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_BYTES = 16
_KEY_BYTES = 32
_PREFIX = "scrypt"
#: Accepted ranges when reading a stored hash: a file edited by hand cannot make a sign-in
#: allocate gigabytes.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16

#: Moderator names: they go into the audit trail and the ``name:hash`` file.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
#: Longest password accepted (hashing a megabyte is a cheap denial of service otherwise).
MAX_PASSWORD = 1024
#: Shortest password `add_user` accepts.
MIN_PASSWORD = 8


class AccountError(ModerationError):
    """A bad moderator name or password, or an unreadable users file."""


def check_name(name: str) -> str:
    """``name`` if it is a valid moderator name, else `AccountError` saying what is allowed."""
    if not _NAME.fullmatch(name):
        raise AccountError(
            f"bad moderator name {name!r}: use 1 to 64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=256 * n * r + 2**20,
        dklen=_KEY_BYTES,
    )


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$key`` of ``password`` with a fresh random salt."""
    if not password or len(password) > MAX_PASSWORD:
        raise AccountError(f"a password has 1 to {MAX_PASSWORD} characters")
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"{_PREFIX}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time compare; malformed = no match)."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != _PREFIX or len(password) > MAX_PASSWORD:
        return False
    try:
        n, r, p = (int(v) for v in parts[1:4])
        salt, key = _unb64(parts[4]), _unb64(parts[5])
    except (ValueError, binascii.Error):
        return False
    if not (1 < n <= _MAX_N and n & (n - 1) == 0 and 0 < r <= _MAX_R and 0 < p <= _MAX_P):
        return False
    if not salt or len(key) != _KEY_BYTES:
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), key)


#: Hash checked when a name is unknown, so that a wrong name costs as much time as a wrong
#: password and sign-in timing does not reveal which names exist.
_DUMMY_HASH = "$".join(
    (
        _PREFIX,
        str(SCRYPT_N),
        str(SCRYPT_R),
        str(SCRYPT_P),
        _b64(bytes(_SALT_BYTES)),
        _b64(bytes(_KEY_BYTES)),
    )
)


def read_users(path: Path | None) -> dict[str, str]:
    """Name → hash from a users file; a missing file (or none configured) has no accounts.

    Raises
    ------
    AccountError
        For a line that is not ``name:hash``, naming the file and line.
    """
    if path is None or not path.exists():
        return {}
    users: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AccountError(f"cannot read the users file {path}: {exc}") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, stored = line.partition(":")
        if not sep or not _NAME.fullmatch(name) or not stored.startswith(_PREFIX + "$"):
            raise AccountError(
                f"{path}, line {number}: expected 'name:scrypt$...' "
                "(create accounts with `moderation users add NAME`)"
            )
        users[name] = stored
    return users


def verify_user(path: Path | None, name: str, password: str) -> bool:
    """Whether ``name`` has an account in ``path`` whose password is ``password``.

    Unknown names are checked against a dummy hash, so both failures take as long.
    """
    stored = read_users(path).get(name)
    matched = verify_password(password, stored or _DUMMY_HASH)
    return stored is not None and matched


def _write_users(path: Path, users: dict[str, str]) -> None:
    """Replace the users file atomically, readable by its owner only (it holds hashes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.writelines(f"{name}:{stored}\n" for name, stored in users.items())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def add_user(path: Path, name: str, password: str, *, replace: bool = False) -> bool:
    """Create (or with ``replace``, reset the password of) an account; True if it existed.

    Raises
    ------
    AccountError
        Bad name, a password shorter than `MIN_PASSWORD`, or an existing account without
        ``replace``.
    """
    check_name(name)
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    users = read_users(path)
    existed = name in users
    if existed and not replace:
        raise AccountError(f"{name} already has an account in {path}; pass --replace to reset it")
    users[name] = hash_password(password)
    _write_users(path, users)
    return existed


def remove_user(path: Path, name: str) -> None:
    """Delete an account; `AccountError` if there is none."""
    users = read_users(path)
    if name not in users:
        raise AccountError(f"no account named {name!r} in {path}")
    del users[name]
    _write_users(path, users)


# --------------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class Session:
    """What a session cookie carries; ``user`` is empty before sign-in (CSRF token only)."""

    user: str
    sid: str
    csrf: str
    issued: float

    @classmethod
    def new(cls, user: str = "") -> Session:
        """A fresh session: new id and CSRF token (sign-in always rotates both)."""
        return cls(user, secrets.token_urlsafe(16), secrets.token_urlsafe(32), time.time())

    def csrf_matches(self, token: str) -> bool:
        """Constant-time check of a form's CSRF token against this session's."""
        return hmac.compare_digest(self.csrf.encode(), token.encode("utf-8", "replace"))


class SessionSigner:
    """Signs sessions into cookie values and reads them back, refusing anything altered.

    Parameters
    ----------
    secret
        Key material (``settings.session_secret``); None = random per process, so every
        session ends when the server restarts.
    max_age
        Seconds a session lasts after sign-in.
    """

    def __init__(self, secret: str | None, max_age: float = 12 * 3600) -> None:
        material = secret.encode("utf-8") if secret else secrets.token_bytes(32)
        # A key of its own: the same secret may sign other things elsewhere.
        self._key = hmac.new(material, b"moderation review session v1", hashlib.sha256).digest()
        self.max_age = max_age
        self._revoked: dict[str, float] = {}
        self._lock = threading.Lock()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def dumps(self, session: Session) -> str:
        """The cookie value: ``payload.signature``, both URL-safe base64."""
        body = {"u": session.user, "s": session.sid, "c": session.csrf, "t": session.issued}
        payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def loads(self, value: str | None) -> Session | None:
        """The session of a cookie value, or None if it is missing, forged, expired or revoked."""
        if not value or len(value) > 4096:
            return None
        encoded, _, signature = value.partition(".")
        try:
            payload, mac = _unb64(encoded), _unb64(signature)
        except (ValueError, binascii.Error):
            return None
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            body = json.loads(payload)
            session = Session(str(body["u"]), str(body["s"]), str(body["c"]), float(body["t"]))
        except (ValueError, KeyError, TypeError):
            return None
        if not 0 <= time.time() - session.issued <= self.max_age:
            return None
        with self._lock:
            if session.sid in self._revoked:
                return None
        return session

    def revoke(self, session: Session) -> None:
        """Refuse this session from now on (sign-out), even if its cookie was copied."""
        now = time.time()
        with self._lock:
            self._revoked = {
                sid: issued for sid, issued in self._revoked.items() if now - issued <= self.max_age
            }
            self._revoked[session.sid] = session.issued


class SignInThrottle:
    """Refuses sign-in from an address after too many recent failures (password guessing).

    Keyed by client address rather than by name, so nobody can lock a moderator out by
    failing on purpose with their name. Kept in memory: per process, forgotten on restart.

    Parameters
    ----------
    limit
        Failures allowed within ``window`` seconds.
    window
        Seconds a failure counts for.
    """

    #: Addresses tracked at most (the oldest are forgotten first).
    MAX_KEYS = 10_000

    def __init__(self, limit: int = 10, window: float = 600.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> list[float]:
        recent = [t for t in self._failures.get(key, []) if now - t < self.window]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        return recent

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 when it may now."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent(key, now)
            if len(recent) < self.limit:
                return 0.0
            return max(0.0, self.window - (now - recent[-self.limit]))

    def failed(self, key: str) -> None:
        """Count a failed sign-in from ``key``."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent(key, now)
            self._failures.pop(key, None)  # re-insert: the dict stays oldest-first
            self._failures[key] = [*recent, now][-self.limit :]
            while len(self._failures) > self.MAX_KEYS:
                del self._failures[next(iter(self._failures))]

    def succeeded(self, key: str) -> None:
        """Forget ``key``'s failures."""
        with self._lock:
            self._failures.pop(key, None)
