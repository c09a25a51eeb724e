"""Bearer tokens of the gateway's callers, stored only as SHA-256 hashes with their role."""

import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("gvi.gateway.credentials")

ROLE = re.compile(
    r"^(police|supervisor|supervisor:[a-z0-9][a-z0-9-]{0,63}|agency:[a-z][a-z0-9-]{1,39})$"
)
TOKEN = re.compile(r"^gvi_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


class CredentialsInvalid(ValueError):
    """The credentials file cannot be read, or a role is not one the gateway knows."""


@dataclass(frozen=True)
class Caller:
    """Who an accepted token belongs to: its id (never the token) and its role."""

    token_id: str
    role: str

    @property
    def principal(self) -> str:
        """The caller as an audit record names it: its token id and role, never the token."""
        return f"token:{self.token_id} ({self.role})"

    @property
    def is_supervisor(self) -> bool:
        """`supervisor` (every partnership, e.g. the national coordination or Brå) or
        `supervisor:<partnership>` (that partnership only); both read only."""
        return self.role == "supervisor" or self.role.startswith("supervisor:")

    @property
    def partnership(self) -> str | None:
        """The one partnership a `supervisor:<partnership>` sees; None for every other role."""
        return (
            self.role.removeprefix("supervisor:") if self.role.startswith("supervisor:") else None
        )

    def sees(self, item: Mapping[str, Any]) -> bool:
        """Whether a supervisor may see a snapshot or an escalation: its partnership's own,
        or any for a supervisor of every partnership."""
        scope = self.partnership
        return scope is None or item.get("partnership") == scope

    @property
    def recipient(self) -> str | None:
        """The agency's recipient id for an `agency:<recipient>` role, else None."""
        return self.role.removeprefix("agency:") if self.role.startswith("agency:") else None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One token as stored: its role, the SHA-256 of its secret, when it was made and when
    it expires (None: never)."""

    role: str
    sha256: str
    created_at: datetime | None = None
    expires_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


@dataclass(frozen=True)
class Credentials:
    """The callers the gateway accepts: token id → its entry.

    A token is `gvi_<id>_<secret>`: the id finds the entry, the secret's hash is compared in
    constant time. The secret itself is shown once when the token is made and never stored.
    """

    entries: dict[str, Entry]

    @classmethod
    def load(cls, path: Path) -> "Credentials":
        if not path.exists():
            return cls({})
        try:
            document = json.loads(path.read_text("utf-8"))
            entries = {
                entry["token_id"]: Entry(
                    role=entry["role"],
                    sha256=entry["sha256"],
                    created_at=_moment(entry.get("created_at")),
                    expires_at=_moment(entry.get("expires_at")),
                )
                for entry in document["tokens"]
            }
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CredentialsInvalid(f"{path}: cannot read the credentials: {error}") from None
        for token_id, entry in entries.items():
            if not ROLE.match(entry.role):
                raise CredentialsInvalid(
                    f"{path}: token {token_id} has an unknown role {entry.role!r}"
                )
        return cls(entries)

    def caller(self, token: str) -> Caller | None:
        """The caller a presented token belongs to; None for a token that is not valid (an
        unknown id, a wrong secret, or past its expiry)."""
        found = TOKEN.match(token)
        if found is None:
            return None
        token_id, secret = found.groups()
        entry = self.entries.get(token_id, Entry("", "0" * 64))
        matches = hmac.compare_digest(_digest(secret), entry.sha256)
        if not matches or not entry.role or entry.expired(datetime.now(UTC)):
            return None
        return Caller(token_id, entry.role)

    def still_valid(self, caller: Caller) -> bool:
        """Whether the token behind an earlier accepted caller (a dashboard session, a live
        stream) is still there, with the same role, and not expired."""
        entry = self.entries.get(caller.token_id)
        return (
            entry is not None and entry.role == caller.role and not entry.expired(datetime.now(UTC))
        )


@dataclass
class CredentialsFile:
    """The credentials file as a running gateway sees it: read again at most `recheck_seconds`
    after it changed, so that a revoked or expired token is refused without a restart. A file
    that becomes unreadable refuses every token until it is mended (fails closed)."""

    path: Path
    recheck_seconds: float = 1.0
    current: Credentials = field(default_factory=lambda: Credentials({}))
    stamp: tuple[int, int, int] | None = None
    checked_at: float = -1e18

    @classmethod
    def open(cls, path: Path, recheck_seconds: float = 1.0) -> "CredentialsFile":
        """Read the file now; raises CredentialsInvalid for one that cannot be used."""
        opened = cls(path, recheck_seconds, Credentials.load(path), _stamp(path))
        opened.checked_at = time.monotonic()
        return opened

    def fresh(self) -> Credentials:
        now = time.monotonic()
        if now - self.checked_at < self.recheck_seconds:
            return self.current
        self.checked_at = now
        stamp = _stamp(self.path)
        if stamp != self.stamp:
            self.stamp = stamp
            try:
                self.current = Credentials.load(self.path)
                log.info("credentials read again", callers=len(self.current.entries))
            except CredentialsInvalid as error:
                self.current = Credentials({})
                log.error(
                    "the credentials file cannot be read; every token is refused", error=str(error)
                )
        return self.current

    @property
    def entries(self) -> dict[str, Entry]:
        return self.fresh().entries

    def caller(self, token: str) -> Caller | None:
        return self.fresh().caller(token)

    def still_valid(self, caller: Caller) -> bool:
        return self.fresh().still_valid(caller)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return (status.st_mtime_ns, status.st_size, status.st_ino)


def _moment(text: object) -> datetime | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValueError(f"not a time: {text!r}")
    moment = datetime.fromisoformat(text)
    if moment.utcoffset() is None:
        raise ValueError(f"a time without its zone: {text!r}")
    return moment


def _read_document(path: Path) -> dict[str, Any]:
    Credentials.load(path)  # refuses a file it cannot read rather than overwrite it
    document: dict[str, Any] = (
        json.loads(path.read_text("utf-8")) if path.exists() else {"tokens": []}
    )
    return document


def _write_document(path: Path, document: dict[str, Any]) -> None:
    """Write the file whole (owner-only, in an owner-only folder), replacing it at once."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    written = path.with_suffix(".tmp")
    descriptor = os.open(written, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(document, indent=2) + "\n")
    os.chmod(written, 0o600)
    written.replace(path)


def add_token(path: Path, role: str, valid_for: timedelta | None = None) -> str:
    """Make a token for `role` (expiring after `valid_for`, if given), store its hash in the
    credentials file, and return the token (the only time it is shown)."""
    if not ROLE.match(role):
        raise CredentialsInvalid(
            f"unknown role {role!r}: use police, supervisor, supervisor:<partnership> "
            "or agency:<recipient>"
        )
    document = _read_document(path)
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    now = datetime.now(UTC).replace(microsecond=0)
    entry: dict[str, str] = {
        "token_id": token_id,
        "role": role,
        "sha256": _digest(secret),
        "created_at": now.isoformat(),
    }
    if valid_for is not None:
        entry["expires_at"] = (now + valid_for).isoformat()
    document["tokens"].append(entry)
    _write_document(path, document)
    return f"gvi_{token_id}_{secret}"


def revoke_token(path: Path, token_id: str) -> bool:
    """Remove a token from the credentials file; False when it holds no such token."""
    document = _read_document(path)
    kept = [entry for entry in document["tokens"] if entry.get("token_id") != token_id]
    if len(kept) == len(document["tokens"]):
        return False
    document["tokens"] = kept
    _write_document(path, document)
    return True
