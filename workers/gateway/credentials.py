"""Bearer tokens of the gateway's callers, stored only as SHA-256 hashes with their role."""

import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

ROLE = re.compile(r"^(police|supervisor|agency:[a-z][a-z0-9-]{1,39})$")
TOKEN = re.compile(r"^gvi_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


class CredentialsInvalid(ValueError):
    """The credentials file cannot be read, or a role is not one the gateway knows."""


@dataclass(frozen=True)
class Caller:
    """Who an accepted token belongs to: its id (never the token) and its role."""

    token_id: str
    role: str

    @property
    def recipient(self) -> str | None:
        """The agency's recipient id for an `agency:<recipient>` role, else None."""
        return self.role.removeprefix("agency:") if self.role.startswith("agency:") else None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Credentials:
    """The callers the gateway accepts: token id → (role, SHA-256 of the token's secret).

    A token is `gvi_<id>_<secret>`: the id finds the entry, the secret's hash is compared in
    constant time. The secret itself is shown once when the token is made and never stored.
    """

    entries: dict[str, tuple[str, str]]

    @classmethod
    def load(cls, path: Path) -> "Credentials":
        if not path.exists():
            return cls({})
        try:
            document = json.loads(path.read_text("utf-8"))
            entries = {
                entry["token_id"]: (entry["role"], entry["sha256"]) for entry in document["tokens"]
            }
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CredentialsInvalid(f"{path}: cannot read the credentials: {error}") from None
        for token_id, (role, _) in entries.items():
            if not ROLE.match(role):
                raise CredentialsInvalid(f"{path}: token {token_id} has an unknown role {role!r}")
        return cls(entries)

    def caller(self, token: str) -> Caller | None:
        """The caller a presented token belongs to; None for a token that is not valid."""
        found = TOKEN.match(token)
        if found is None:
            return None
        token_id, secret = found.groups()
        role, expected = self.entries.get(token_id, ("", "0" * 64))
        matches = hmac.compare_digest(_digest(secret), expected)
        return Caller(token_id, role) if matches and role else None


def add_token(path: Path, role: str) -> str:
    """Make a token for `role`, store its hash in the credentials file, and return the token
    (the only time it is shown)."""
    if not ROLE.match(role):
        raise CredentialsInvalid(
            f"unknown role {role!r}: use police, supervisor or agency:<recipient>"
        )
    Credentials.load(path)  # refuses a file it cannot read rather than overwrite it
    document = json.loads(path.read_text("utf-8")) if path.exists() else {"tokens": []}
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    document["tokens"].append({"token_id": token_id, "role": role, "sha256": _digest(secret)})
    path.parent.mkdir(parents=True, exist_ok=True)
    written = path.with_suffix(".tmp")
    written.write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    os.chmod(written, 0o600)
    written.replace(path)
    return f"gvi_{token_id}_{secret}"
