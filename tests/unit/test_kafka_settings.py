"""Kafka as production runs it: TLS and SASL for every client, topics as the cluster needs."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from service.settings import Settings


def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kafka-ca")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1).not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert = tmp_path / "ca.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private = tmp_path / "client.key"
    private.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert, private


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_over_tls_reaches_every_client(tmp_path, mechanism):
    ca, _ = self_signed(tmp_path)
    settings = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism=mechanism,
                        kafka_sasl_username="appeasement", kafka_sasl_password="s3cret",
                        kafka_ssl_cafile=ca)
    options = settings.kafka_security().client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == mechanism
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "appeasement", "s3cret")
    assert options["ssl_context"] is not None
    assert "s3cret" not in repr(settings)


def test_mutual_tls_loads_the_client_certificate(tmp_path):
    ca, key = self_signed(tmp_path)
    settings = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=ca,
                        kafka_ssl_certfile=ca, kafka_ssl_keyfile=key)
    options = settings.kafka_security().client_options()
    assert options["security_protocol"] == "SSL" and options["ssl_context"] is not None


def test_plaintext_by_default_and_incomplete_sasl_is_refused_with_the_names():
    assert Settings().kafka_security().client_options() == {}
    with pytest.raises(ValidationError, match="KAFKA_SASL_MECHANISM"):
        Settings(kafka_security_protocol="SASL_PLAINTEXT")


def test_topics_are_created_only_when_asked_and_replicated_as_the_cluster_needs():
    defaults = Settings()
    assert defaults.create_topics is False
    assert (defaults.topic_replication_factor, defaults.topic_min_insync_replicas) == (3, 2)


def test_a_secret_can_come_from_a_file(tmp_path, monkeypatch):
    (tmp_path / "kafka_sasl_password").write_text("from-a-file")
    settings = Settings(_secrets_dir=tmp_path)
    assert settings.kafka_sasl_password.get_secret_value() == "from-a-file"


def test_every_consumer_fetch_waits_at_the_broker_no_longer_than_configured():
    """A broker may hold a fetch for its whole wait even when records are there (the embedded
    one does): each consumer group asks for the configured wait, not Kafka's 500 ms."""
    from cryptography.fernet import Fernet

    from service.bootstrap import build_service

    settings = Settings(
        database_url="postgresql://u@db.example/appeasement", kafka_bootstrap_servers="k:9092",
        bank_details_key=Fernet.generate_key().decode(), auth_jwt_key="k" * 64,
        consumer_fetch_max_wait_ms=37,
    )
    service = build_service(settings)  # builds everything, connects nothing
    waits = {name: group._subscriber._connection_args["fetch_max_wait_ms"]
             for name, group in service.consumers.items()}
    assert waits == {"oms-events": 37, "commands": 37}
    assert Settings().consumer_fetch_max_wait_ms == 100
