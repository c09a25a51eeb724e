"""Corrections to faust-streaming, mode, aiokafka and uvicorn internals, pinned to the versions
they fix.

Every override of a library's private code lives in this package, and only here. Each module
names the defect it corrects (docs/streams.md has the evidence). `REPLACED` lists each upstream
method an override replaces or depends on, with a digest of its source: the canary tests
(`tests/unit/faust_fixes/test_canaries.py`) fail as soon as a release changes one of them,
whether it breaks the correction or fixes the defect. The private names that the watchdogs and
tools only read or act through are behind the functions of `internals`, each with an attribute
canary (`internals.PRIVATE_NAMES`).
"""

import hashlib
import importlib
import inspect
from importlib import metadata
from types import ModuleType
from typing import Any

PINNED = {
    "faust-streaming": "0.15.3",
    "mode-streaming": "0.7.1",
    "aiokafka": "0.14.0",
    "uvicorn": "0.54.0",
}
"""The exact versions the corrections were written for (also pinned in pyproject.toml)."""

REPLACED = {
    "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread.seek": "1498560d05f02582",
    "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread._seek_wait": "9d221e816d940467",
    "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread._fetch_records": "39a2c6c79fc1455a",
    "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread._create_worker_consumer": (
        "c2701bfc3e6f6cad"
    ),
    "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread.seek_to_committed": (
        "775ab0adc4b052ab"
    ),
    "faust.transport.drivers.aiokafka:Consumer._new_consumer_thread": "0870ec53dea75083",
    "faust.transport.drivers.aiokafka:Consumer._wait_next_records": "6218e1969a636b3f",
    "faust.transport.drivers.aiokafka:Consumer.perform_seek": "0e8c130ff4b0afd8",
    "faust.transport.drivers.aiokafka:Consumer._new_offset": "1d2c7ea89a7ad4f1",
    "faust.transport.drivers.aiokafka:Consumer._drain_messages": "44a2500309e83c63",
    "faust.transport.drivers.aiokafka:Producer._producer_type": "311dc214fc435d81",
    "faust:App._new_transport": "42db531312dd776f",
    "faust.tables.manager:TableManager.on_start": "365dd25fbc0e0684",
    "faust.tables.manager:TableManager._update_channels": "88e3941facc934d6",
    "faust.worker:Worker._on_sigterm": "ba99cf23ea875c02",
    "faust.worker:Worker._on_sigint": "327193230c65ea83",
    "faust:App.flow_control": "f664abbe76e25985",
    "mode.utils.queues:FlowControlEvent.resume": "4dcdc1253fd0dcb4",
    "aiokafka:AIOKafkaProducer.send": "08ce81263f439838",
    "aiokafka:AIOKafkaProducer.send_batch": "bf42b0f0c5c0646d",
    "aiokafka.consumer.fetcher:PartitionRecords._unpack_records": "b803e6d46480732c",
    "aiokafka.consumer.fetcher:PartitionRecords.__init__": "8ec1c2ae6ea1af87",
    "uvicorn.protocols.http.h11_impl:H11Protocol.connection_made": "6efb565ff3d36b91",
    "uvicorn.protocols.http.h11_impl:H11Protocol.data_received": "e03b145518ca44aa",
    "uvicorn.protocols.http.h11_impl:H11Protocol.on_response_complete": "1fbb8f48c6a1afc4",
    "uvicorn.protocols.http.h11_impl:H11Protocol.connection_lost": "dbb688fa2b386000",
}


class UnpinnedLibraries(RuntimeError):
    """An installed faust-streaming, mode, aiokafka or uvicorn is not the version corrected
    here."""


def installed_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PINNED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def require_pinned_versions() -> None:
    """Raise UnpinnedLibraries naming each library whose installed version is not the pin."""
    wrong = {name: found for name, found in installed_versions().items() if found != PINNED[name]}
    if wrong:
        listed = ", ".join(
            f"{name} {found or 'missing'} (corrections written for {PINNED[name]})"
            for name, found in wrong.items()
        )
        raise UnpinnedLibraries(
            f"workers/faust_fixes corrects library internals of exact versions; installed: "
            f"{listed}. Install with `pip install -c constraints.txt .`, or review every "
            "correction against the new release (docs/streams.md) and update the pins."
        )


def upstream_digest(path: str) -> str:
    """The digest of an upstream method's source, `module:Class.attribute` (properties and
    cached properties by their getter)."""
    module_name, _, attributes = path.partition(":")
    found: Any = importlib.import_module(module_name)
    for name in attributes.split("."):
        found = (
            getattr(found, name)
            if isinstance(found, ModuleType)
            else inspect.getattr_static(found, name)
        )
        # A correction installed in the upstream class's place names the class it replaces.
        found = vars(found).get("replaces", found) if isinstance(found, type) else found
    for getter in ("fget", "func", "_cached_property__get"):
        found = getattr(found, getter, None) or found
    return hashlib.sha256(inspect.getsource(found).encode("utf-8")).hexdigest()[:16]
