"""How every Kafka client of the project connects (servers, TLS, SASL), and a one-line account of
why a broker refused it."""

import asyncio
import functools
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    UnsupportedSaslMechanismError,
)
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.metadata import MetadataRequest


class SecurityProtocol(StrEnum):
    """Kafka's `security.protocol`."""

    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"

    @property
    def uses_tls(self) -> bool:
        return self in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL)

    @property
    def uses_sasl(self) -> bool:
        return self in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL)


class SaslMechanism(StrEnum):
    """The SASL mechanisms the project's clients speak."""

    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


EXIT_UNREACHABLE = 69
"""sysexits' EX_UNAVAILABLE: no broker answers at the configured address."""
EXIT_TLS = 74
"""The TLS handshake failed: an unknown CA, a certificate that does not fit, no TLS listener."""
EXIT_AUTHENTICATION = 76
"""The broker refused the login: a wrong user name, password or mechanism, or none given."""
EXIT_AUTHORISATION = 77
"""sysexits' EX_NOPERM: logged in, but the principal's ACLs do not allow what it must do."""


class KafkaAccessRefused(RuntimeError):
    """A broker refused a client; `str()` is one line that names the setting to fix."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class KafkaConnection:
    """Where the brokers are and how to log in to them: what every client is built from."""

    bootstrap_servers: str
    security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    sasl_mechanism: SaslMechanism = SaslMechanism.SCRAM_SHA_512
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    key_password: str | None = field(default=None, repr=False)

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context (server verified against `ca_file`, or the system's CAs), or None."""
        if not self.security_protocol.uses_tls:
            return None
        return _ssl_context(self.ca_file, self.cert_file, self.key_file, self.key_password)

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's consumers, producers and admin clients."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol.value,
        }
        context = self.ssl_context()
        if context is not None:
            options["ssl_context"] = context
        if self.security_protocol.uses_sasl:
            options["sasl_mechanism"] = self.sasl_mechanism.value
            options["sasl_plain_username"] = self.username
            options["sasl_plain_password"] = self.password
        return options

    def librdkafka(self) -> dict[str, str]:
        """Configuration for librdkafka-based clients (confluent-kafka)."""
        config = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol.value,
        }
        if self.security_protocol.uses_tls:
            if self.ca_file is not None:
                config["ssl.ca.location"] = str(self.ca_file)
            if self.cert_file is not None:
                config["ssl.certificate.location"] = str(self.cert_file)
            if self.key_file is not None:
                config["ssl.key.location"] = str(self.key_file)
            if self.key_password is not None:
                config["ssl.key.password"] = self.key_password
        if self.security_protocol.uses_sasl:
            config["sasl.mechanisms"] = self.sasl_mechanism.value
            config["sasl.username"] = self.username or ""
            config["sasl.password"] = self.password or ""
        return config

    @property
    def who(self) -> str:
        """The principal this connection logs in as, for messages."""
        if self.security_protocol.uses_sasl:
            return f"User:{self.username}"
        if self.cert_file is not None:
            return f"the certificate {self.cert_file}"
        return "ANONYMOUS"


def connection_of(kafka: "KafkaConnection | str") -> KafkaConnection:
    """A connection; a bare `host:port[,host:port]` is a plaintext one (tests, local tools)."""
    return kafka if isinstance(kafka, KafkaConnection) else KafkaConnection(kafka)


@functools.cache
def _ssl_context(
    ca_file: Path | None, cert_file: Path | None, key_file: Path | None, key_password: str | None
) -> ssl.SSLContext:
    context: ssl.SSLContext = create_ssl_context(
        cafile=str(ca_file) if ca_file else None,
        certfile=str(cert_file) if cert_file else None,
        keyfile=str(key_file) if key_file else None,
        password=key_password,
    )
    return context


async def check_access(
    kafka: KafkaConnection, topics: Sequence[str] = (), within: float = 15.0
) -> None:
    """Log in to a broker as `kafka` says and ask for `topics`' metadata; raises
    KafkaAccessRefused with one line that names the setting to fix."""
    try:
        context = kafka.ssl_context()
    except (OSError, ssl.SSLError) as error:
        raise KafkaAccessRefused(
            f"cannot load the TLS files ({_reason(error)}): check GVI_KAFKA_SSL_CAFILE, "
            "GVI_KAFKA_SSL_CERTFILE and GVI_KAFKA_SSL_KEYFILE",
            EXIT_TLS,
        ) from None
    failures: list[KafkaAccessRefused] = []
    for server in kafka.bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            async with asyncio.timeout(within):
                connection = await create_conn(
                    host.strip("[]"),
                    int(port),
                    request_timeout_ms=int(within * 1000),
                    ssl_context=context,
                    security_protocol=kafka.security_protocol.value,
                    sasl_mechanism=(
                        kafka.sasl_mechanism.value if kafka.security_protocol.uses_sasl else None
                    ),
                    sasl_plain_username=kafka.username,
                    sasl_plain_password=kafka.password,
                )
                try:
                    answer = await connection.send(MetadataRequest(list(topics)))
                finally:
                    connection.close()
        except Exception as error:
            failures.append(_refusal(kafka, server, error))
            if failures[-1].exit_code != EXIT_UNREACHABLE:
                raise failures[-1] from None
            continue
        for topic in answer.to_object()["topics"]:
            if topic["error_code"] == TopicAuthorizationFailedError.errno:
                raise KafkaAccessRefused(
                    f"Kafka refuses {kafka.who} access to topic {topic['topic']}: apply the "
                    "ACLs (gvi-sanctions acls --apply) or check GVI_KAFKA_SASL_USERNAME",
                    EXIT_AUTHORISATION,
                )
        return
    raise failures[0]


def _refusal(kafka: KafkaConnection, server: str, error: BaseException) -> KafkaAccessRefused:
    """The one-line account of why connecting to `server` failed."""
    reason = _reason(error)
    if isinstance(error, ssl.SSLCertVerificationError):
        return KafkaAccessRefused(
            f"the broker {server} showed a certificate that is not trusted ({reason}): set "
            "GVI_KAFKA_SSL_CAFILE to the CA that signed it",
            EXIT_TLS,
        )
    if isinstance(error, ssl.SSLError):
        return KafkaAccessRefused(
            f"the TLS handshake with {server} failed ({reason}): check "
            "GVI_KAFKA_SECURITY_PROTOCOL (does the listener speak TLS?) and GVI_KAFKA_SSL_*",
            EXIT_TLS,
        )
    if isinstance(error, UnsupportedSaslMechanismError):
        return KafkaAccessRefused(
            f"the broker {server} does not offer {kafka.sasl_mechanism.value}: check "
            "GVI_KAFKA_SASL_MECHANISM",
            EXIT_AUTHENTICATION,
        )
    if isinstance(error, SaslAuthenticationFailed | AuthenticationFailedError):
        return KafkaAccessRefused(
            f"the broker {server} refused the login of {kafka.who} ({reason}): check "
            "GVI_KAFKA_SASL_USERNAME and GVI_KAFKA_SASL_PASSWORD",
            EXIT_AUTHENTICATION,
        )
    if isinstance(error, TimeoutError):
        return KafkaAccessRefused(
            f"no answer from {server} in time: check GVI_BROKER_URL, and that the listener "
            "speaks GVI_KAFKA_SECURITY_PROTOCOL",
            EXIT_UNREACHABLE,
        )
    if isinstance(error, OSError):
        return KafkaAccessRefused(
            f"no broker answers at {server} ({reason}): check GVI_BROKER_URL", EXIT_UNREACHABLE
        )
    # The listener closed the connection or never answered: it wants another protocol, or
    # other credentials (a mutual-TLS listener drops a client without a certificate it trusts
    # once the handshake is over).
    credentials = (
        "GVI_KAFKA_SASL_USERNAME, GVI_KAFKA_SASL_PASSWORD"
        if kafka.security_protocol.uses_sasl
        else "a client certificate its CA signed: GVI_KAFKA_SSL_CERTFILE, GVI_KAFKA_SSL_KEYFILE"
    )
    return KafkaAccessRefused(
        f"the broker {server} dropped the connection of a {kafka.security_protocol.value} "
        f"client ({reason}): check GVI_KAFKA_SECURITY_PROTOCOL and the credentials "
        f"({credentials})",
        EXIT_AUTHENTICATION,
    )


def refusal_of(who: str, error: BaseException) -> KafkaAccessRefused | None:
    """A broker's authorisation error met by a running command, as one line; None for others."""
    if isinstance(error, KafkaAccessRefused):
        return error
    kinds = {
        TopicAuthorizationFailedError: "a topic",
        GroupAuthorizationFailedError: "a consumer group",
        ClusterAuthorizationFailedError: "the cluster",
    }
    for kind, what in kinds.items():
        if isinstance(error, kind):
            return KafkaAccessRefused(
                f"Kafka refuses {who} access to {what} ({_reason(error)}): apply the "
                "ACLs (gvi-sanctions acls --apply) or check GVI_KAFKA_SASL_USERNAME",
                EXIT_AUTHORISATION,
            )
    return None


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}"[:300] if text else type(error).__name__


__all__ = [
    "EXIT_AUTHENTICATION",
    "EXIT_AUTHORISATION",
    "EXIT_TLS",
    "EXIT_UNREACHABLE",
    "KafkaAccessRefused",
    "KafkaConnection",
    "SaslMechanism",
    "SecurityProtocol",
    "check_access",
    "connection_of",
    "refusal_of",
]
