"""A process's secret files watched: a change stops it, for its supervisor to start it anew."""

import asyncio
import hashlib
import os
import random
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from workers.settings import Settings

log = structlog.get_logger("gvi.secrets")

EXIT_SECRETS_CHANGED = 75
"""sysexits' EX_TEMPFAIL: the process stopped because a secret file changed; start it again."""

Digests = dict[str, str]
"""A digest of each watched file's content by its path ("" when it cannot be read)."""


def watched_files(folder: Path | None, tls_files: Iterable[Path]) -> tuple[Path, ...]:
    """The files a process reads its secrets and TLS material from: each file of its secrets
    folder (`GVI_SECRETS_DIR`; not Kubernetes' own `..data` entries of a mounted volume) and its
    `GVI_KAFKA_SSL_*` files."""
    files: list[Path] = []
    if folder is not None and folder.is_dir():
        files.extend(
            entry
            for entry in sorted(folder.iterdir())
            if not entry.name.startswith(".") and entry.is_file()
        )
    files.extend(tls_files)
    return tuple(dict.fromkeys(files))


def digests(files: Iterable[Path]) -> Digests:
    """Each file's content digest, read through its links as the process read it at start
    (a mounted Secret's file is a link into the volume's current `..data`)."""
    found: Digests = {}
    for path in files:
        try:
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            found[str(path)] = ""
    return found


def changed(before: Digests, now: Digests) -> list[str]:
    """The files whose content differs, that appeared or that went, by path."""
    return sorted(name for name in before.keys() | now.keys() if before.get(name) != now.get(name))


def stop_this_process() -> None:
    """The stop a supervisor would send: the worker's and the gateway's graceful SIGTERM."""
    os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class SecretFilesWatch:
    """Compares a process's secret files (those of `folder`, listed anew each time, and
    `tls_files`) with those it started with every `every` seconds; on a change it waits a
    random part of `spread` (so that replicas that see one Secret change together do not all
    stop together), then calls `stop` once."""

    folder: Path | None
    tls_files: tuple[Path, ...]
    every: float
    spread: float
    stop: Callable[[], None] = stop_this_process
    started_with: Digests = field(default_factory=dict)
    changed_files: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, settings: Settings) -> "SecretFilesWatch":
        if settings.secrets_watch_seconds <= 0:
            return cls(None, (), 0, 0)
        tls = (settings.kafka_ssl_cafile, settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile)
        watch = cls(
            settings.secrets_dir,
            tuple(path for path in tls if path is not None),
            settings.secrets_watch_seconds,
            settings.secrets_restart_spread_seconds,
        )
        watch.started_with = digests(watch.files())
        return watch

    def files(self) -> tuple[Path, ...]:
        return watched_files(self.folder, self.tls_files)

    @property
    def stopped_for_new_secrets(self) -> bool:
        return bool(self.changed_files)

    def exit_code(self, code: int) -> int:
        """The process's exit code: EXIT_SECRETS_CHANGED once this watch stopped it."""
        return EXIT_SECRETS_CHANGED if self.stopped_for_new_secrets else code

    async def run(self) -> None:
        if self.folder is None and not self.tls_files:
            return
        log.info("secret files watched", files=len(self.started_with), every_seconds=self.every)
        while True:
            await asyncio.sleep(self.every)
            now = await asyncio.to_thread(lambda: digests(self.files()))
            different = changed(self.started_with, now)
            if different:
                break
        delay = random.uniform(0, self.spread)
        log.warning(
            "secret files changed; the process stops to start with the new ones",
            files=different,
            stop_in_seconds=round(delay, 1),
            exit_code=EXIT_SECRETS_CHANGED,
        )
        await asyncio.sleep(delay)
        self.changed_files = different
        self.stop()
