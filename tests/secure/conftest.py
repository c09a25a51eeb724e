"""The secure tier: Apache Kafka with a SASL_SSL listener (SCRAM) and a mutual-TLS listener (the
client certificate's CN is the principal), mutual TLS between brokers and controllers,
StandardAuthorizer, one SCRAM user per principal and client certificates for some; the test
makes its own CA."""

import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr

from events.connection import SaslMechanism, SecurityProtocol
from tests.support.brokers import KAFKA_SCRIPTS, free_port_block, kafka_cluster_name
from workers.settings import Settings

ADMIN = "kafka-admin"
"""The super user: brokers log in as it, and it applies the ACLs; the project never runs as it."""
PRINCIPALS = (
    ADMIN,
    "gvi-worker",
    "gvi-gateway",
    "police",
    "skatteverket",
    "kronofogden",
    "gvi-supervisor",
)

CLIENT_CERTIFICATES = ("skatteverket", "police", "gvi-worker", "gvi-gateway")
"""Principals that also hold a client certificate of the test CA (CN = the principal's name); a
`stranger` certificate names skatteverket but is signed by an unrelated CA."""


@dataclass
class SecureCluster:
    """A running SASL_SSL cluster, its CA and every principal's password."""

    bootstrap: str
    folder: Path
    passwords: dict[str, str] = field(default_factory=dict)

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def mtls_bootstrap(self) -> str:
        """The mutual-TLS listeners: each broker's port + 200 (deploy/kafka/start.sh)."""
        hosts = [server.rpartition(":") for server in self.bootstrap.split(",")]
        return ",".join(f"{host}:{int(port) + 200}" for host, _, port in hosts)

    def mtls_settings(self, user: str | None, **more: object) -> Settings:
        """Settings that authenticate as `user` by its client certificate (None: none shown)."""
        login: dict[str, object] = {
            "broker_url": "kafka://" + self.mtls_bootstrap,
            "kafka_security_protocol": SecurityProtocol.SSL,
            "kafka_ssl_cafile": self.ca_file,
        }
        if user is not None:
            login.update(
                kafka_ssl_certfile=self.folder / f"{user}-client.pem",
                kafka_ssl_keyfile=self.folder / f"{user}-client.key",
            )
        return Settings.model_validate({**login, **more})

    def settings(self, user: str | None, **more: object) -> Settings:
        """Settings that log in as `user` (None: a client without credentials, over TLS)."""
        login: dict[str, object] = {
            "broker_url": "kafka://" + self.bootstrap,
            "kafka_ssl_cafile": self.ca_file,
        }
        if user is None:
            login["kafka_security_protocol"] = SecurityProtocol.SSL
        else:
            login.update(
                kafka_security_protocol=SecurityProtocol.SASL_SSL,
                kafka_sasl_mechanism=SaslMechanism.SCRAM_SHA_512,
                kafka_sasl_username=user,
                kafka_sasl_password=SecretStr(self.passwords[user]),
            )
        return Settings.model_validate({**login, **more})


def _write_certificates(folder: Path) -> None:
    """A CA of the test's own, and the brokers' certificate for 127.0.0.1 (key in PKCS#8, which
    Kafka's PEM key store wants)."""
    authority = trustme.CA(organization_name="gvi-sanctions test CA")
    broker = authority.issue_cert("127.0.0.1", "localhost", common_name="kafka-broker")
    key = serialization.load_pem_private_key(broker.private_key_pem.bytes(), password=None)
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    chain = b"".join(blob.bytes() for blob in broker.cert_chain_pems)
    (folder / "broker.pem").write_bytes(pkcs8 + chain)
    authority.cert_pem.write_to_path(str(folder / "ca.pem"))
    other = trustme.CA(organization_name="an unrelated CA")
    other.cert_pem.write_to_path(str(folder / "other-ca.pem"))
    for user in CLIENT_CERTIFICATES:
        client = authority.issue_cert(f"{user}.clients.invalid", common_name=user)
        client.private_key_pem.write_to_path(str(folder / f"{user}-client.key"))
        (folder / f"{user}-client.pem").write_bytes(
            b"".join(blob.bytes() for blob in client.cert_chain_pems)
        )
    stranger = other.issue_cert("skatteverket.clients.invalid", common_name="skatteverket")
    stranger.private_key_pem.write_to_path(str(folder / "stranger-client.key"))
    (folder / "stranger-client.pem").write_bytes(stranger.cert_chain_pems[0].bytes())


@pytest.fixture(scope="session")
def secure_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureCluster]:
    folder = tmp_path_factory.mktemp("secure-kafka")
    _write_certificates(folder)
    passwords = {user: secrets.token_urlsafe(18) for user in PRINCIPALS}
    (folder / "scram-users").write_text(
        "".join(f"{user} {password}\n" for user, password in passwords.items()), "utf-8"
    )
    name = kafka_cluster_name() + "-secure"
    environment = {**os.environ, "KAFKA_SECURE_DIR": str(folder)}
    try:
        started = subprocess.run(
            [str(KAFKA_SCRIPTS / "start.sh"), "1", str(free_port_block(1)), name],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env=environment,
        )
        if started.returncode != 0:
            raise RuntimeError(f"secure Kafka did not start:\n{started.stdout}\n{started.stderr}")
        bootstrap = started.stdout.strip().splitlines()[-1]
        yield SecureCluster(bootstrap=bootstrap, folder=folder, passwords=passwords)
    finally:
        subprocess.run([str(KAFKA_SCRIPTS / "stop.sh"), name], timeout=120, check=False)
