"""When the Kafka TLS files a process started with expire, as a metric to alert on."""

from datetime import datetime
from typing import TYPE_CHECKING

import structlog
from prometheus_client import CollectorRegistry, Gauge

from workers.settings import Settings

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

log = structlog.get_logger("gvi.certificates")


def first_expiry(pem: bytes) -> datetime:
    """The end of the first certificate of a PEM file: a client certificate file holds its own
    first, then the chain that signed it."""
    return _certificates(pem)[0].not_valid_after_utc


def last_expiry(pem: bytes) -> datetime:
    """The end of the last-valid certificate of a CA bundle: during a CA's renewal a bundle holds
    the old and the new one, and the brokers stay trusted until the later one ends."""
    return max(cert.not_valid_after_utc for cert in _certificates(pem))


def _certificates(pem: bytes) -> "list[Certificate]":
    # Imported here: cryptography's bindings take about 8 MiB of a process's memory, which
    # only a process with TLS files needs (docs/benchmarks.md, "Output topics of one partition").
    from cryptography import x509

    return x509.load_pem_x509_certificates(pem)


def certificate_expiries(settings: Settings) -> dict[str, datetime]:
    """The client certificate's (`GVI_KAFKA_SSL_CERTFILE`) and the CA bundle's
    (`GVI_KAFKA_SSL_CAFILE`) end, for those that are set and readable as PEM."""
    expiries: dict[str, datetime] = {}
    for certificate, path, expiry in (
        ("client", settings.kafka_ssl_certfile, first_expiry),
        ("ca", settings.kafka_ssl_cafile, last_expiry),
    ):
        if path is None:
            continue
        try:
            expiries[certificate] = expiry(path.read_bytes())
        except (OSError, ValueError) as unreadable:
            log.warning("a certificate's end is not known", file=str(path), problem=str(unreadable))
    return expiries


def expose_certificate_expiries(registry: CollectorRegistry, settings: Settings) -> None:
    """`gvi_kafka_certificate_expiry_timestamp_seconds{certificate="client"|"ca"}`, read once:
    a process restarts when the files change (workers/secret_watch.py)."""
    gauge = Gauge(
        "gvi_kafka_certificate_expiry_timestamp_seconds",
        "When the Kafka TLS certificate this process started with ends (client: its own, "
        "GVI_KAFKA_SSL_CERTFILE; ca: the last of GVI_KAFKA_SSL_CAFILE), Unix time",
        ["certificate"],
        registry=registry,
    )
    for certificate, ends in certificate_expiries(settings).items():
        gauge.labels(certificate=certificate).set(ends.timestamp())
