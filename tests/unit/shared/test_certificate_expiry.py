"""The end of a process's Kafka TLS certificates, as the metric an alert reads."""

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import trustme
from prometheus_client import CollectorRegistry

from workers.certificates import (
    certificate_expiries,
    expose_certificate_expiries,
    first_expiry,
    last_expiry,
)
from workers.settings import Settings

CLIENT_ENDS = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def client_files(folder: Path) -> tuple[Path, Path, datetime]:
    """An invented client certificate (with its chain) ending at CLIENT_ENDS, its CA's bundle,
    and the CA's own end."""
    authority = trustme.CA(organization_name="an invented CA")
    client = authority.issue_cert(
        "skatteverket.clients.invalid", common_name="skatteverket", not_after=CLIENT_ENDS
    )
    certfile, cafile = folder / "client.pem", folder / "ca.pem"
    certfile.write_bytes(b"".join(blob.bytes() for blob in client.cert_chain_pems))
    authority.cert_pem.write_to_path(str(cafile))
    return certfile, cafile, last_expiry(authority.cert_pem.bytes())


def test_a_client_file_ends_with_its_own_certificate_and_a_bundle_with_its_last(
    tmp_path: Path,
) -> None:
    certfile, cafile, ca_ends = client_files(tmp_path)
    chain = certfile.read_bytes() + cafile.read_bytes()
    assert first_expiry(chain) == CLIENT_ENDS, "the leaf, not the CA that follows it"
    assert ca_ends > CLIENT_ENDS
    assert last_expiry(chain) == ca_ends, "a bundle lasts as long as its last certificate"


def test_the_metric_gives_each_set_files_end_and_skips_an_unreadable_one(tmp_path: Path) -> None:
    certfile, cafile, ca_ends = client_files(tmp_path)
    settings = Settings(
        broker_url="kafka://127.0.0.1:9093",
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=cafile,
        kafka_ssl_certfile=certfile,
        kafka_ssl_keyfile=tmp_path / "client.key",
    )
    registry = CollectorRegistry()
    expose_certificate_expiries(registry, settings)
    name = "gvi_kafka_certificate_expiry_timestamp_seconds"
    assert registry.get_sample_value(name, {"certificate": "client"}) == CLIENT_ENDS.timestamp()
    assert registry.get_sample_value(name, {"certificate": "ca"}) == ca_ends.timestamp()

    cafile.write_text("not a certificate", "utf-8")
    assert certificate_expiries(settings) == {"client": CLIENT_ENDS}
    plain = Settings(broker_url="kafka://127.0.0.1:9092")
    assert certificate_expiries(plain) == {}


def test_a_worker_without_tls_files_does_not_load_cryptography() -> None:
    """cryptography's bindings take about 8 MiB of memory (the peak RSS target of
    docs/benchmarks.md has 300 MiB for everything): only a process with TLS files loads them."""
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, workers.stream.app, workers.stream.worker, workers.gateway.server; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'cryptography'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.strip() == "[]"
