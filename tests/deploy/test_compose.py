"""deploy/docker-compose.yml: parsed as YAML, and resolved by Docker Compose itself."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from cryptography.fernet import Fernet

from tests.deploy.files import (
    COMPOSE_FILE,
    DEPLOY,
    DOCKERFILE,
    ENV_EXAMPLE,
    POLICY_PATH,
    ROOT,
    compose_command,
    env_file_values,
    project_version,
    setting_names,
)

REPLICAS = ("appeasement-1", "appeasement-2")
#: What `python -m service serve` cannot start without (one way to authenticate at least).
REQUIRED = {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "BANK_DETAILS_KEY"}
AUTHENTICATION = {"AUTH_JWT_KEY", "AUTH_JWT_KEY_FILE", "AUTH_TOKENS_FILE"}
#: The secrets deploy/.env must give (empty in the example).
SECRETS = ("POSTGRES_PASSWORD", "BANK_DETAILS_KEY", "AUTH_JWT_KEY")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def replicas(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    image = f"appeasement-service:${{APPEASEMENT_VERSION:-{project_version()}}}"
    return {name: service for name, service in compose["services"].items()
            if service.get("image") == image}


def test_two_replicas_of_the_service_image_built_from_the_repository(compose):
    found = replicas(compose)
    assert sorted(found) == list(REPLICAS), f"the replicas are {sorted(found)}"
    for service in found.values():
        build = service["build"]
        context = (COMPOSE_FILE.parent / build["context"]).resolve()
        assert context == ROOT
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE


def test_the_replicas_set_every_variable_the_service_needs_and_only_real_settings(compose):
    known = setting_names()
    for name, service in replicas(compose).items():
        env = service["environment"]
        assert env.keys() >= REQUIRED, f"{name} misses {REQUIRED - env.keys()}"
        assert AUTHENTICATION & env.keys(), f"{name} has no way to authenticate callers"
        unknown = env.keys() - known
        assert not unknown, f"{name} sets what the service never reads: {unknown}"
        assert env["HTTP_HOST"] == "0.0.0.0"
        assert env["POLICY_FILE"] == POLICY_PATH
        assert env["MIGRATE_ON_START"] == "true"
        assert env["KAFKA_BOOTSTRAP_SERVERS"].split(":")[0] == "kafka"
    creators = [name for name, service in replicas(compose).items()
                if service["environment"].get("CREATE_TOPICS") == "true"]
    assert creators == ["appeasement-1"], "exactly one replica creates the topics"


def test_every_long_running_container_has_a_healthcheck_and_the_start_order_waits_on_it(compose):
    services = compose["services"]
    assert {"kafka", "postgres", *REPLICAS} <= services.keys()
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    assert "apache/kafka" in services["kafka"]["image"]
    kafka_env = services["kafka"]["environment"]
    assert "controller" in kafka_env["KAFKA_PROCESS_ROLES"], "KRaft: no ZooKeeper"
    assert kafka_env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    for name in REPLICAS:
        depends = services[name]["depends_on"]
        assert depends["kafka"]["condition"] == depends["postgres"]["condition"] == \
            "service_healthy"
        assert "/readyz" in " ".join(services[name]["healthcheck"]["test"])
    assert services["appeasement-2"]["depends_on"]["appeasement-1"]["condition"] == \
        "service_healthy", "replica 2 subscribes once replica 1 made the topics"


def test_the_env_example_names_every_variable_the_compose_file_asks_for_with_no_secret():
    example = env_file_values(ENV_EXAMPLE.read_text())
    text = COMPOSE_FILE.read_text()
    required = {line.split("${", 1)[1].split(":?", 1)[0]
                for line in text.splitlines() if ":?" in line and "${" in line}
    assert set(SECRETS) | {"DATABASE_URL"} <= required
    assert required <= example.keys(), f"missing in .env.example: {required - example.keys()}"
    assert all(example[name] == "" for name in SECRETS), "the example holds placeholders only"
    assert ".env" in (DEPLOY / ".gitignore").read_text().split()


# --- Docker Compose's own reading -------------------------------------------------------


@pytest.fixture(scope="module")
def compose_cli() -> list[str]:
    command, why = compose_command()
    if command is None:
        pytest.skip(why)
    return command


def filled_env(tmp_path: Path, **overrides: str) -> Path:
    """.env.example with a value for each secret, as an operator would fill it."""
    values = {"POSTGRES_PASSWORD": secrets.token_hex(12),
              "BANK_DETAILS_KEY": Fernet.generate_key().decode(),
              "AUTH_JWT_KEY": secrets.token_hex(32), **overrides}
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={values[key]}" if "=" in line and key in values else line)
    path = tmp_path / "filled.env"
    path.write_text("\n".join(lines) + "\n")
    return path


def compose_config(cli: list[str], env_file: Path) -> subprocess.CompletedProcess[str]:
    # a clean environment: a DATABASE_URL exported in the shell would win over the env file
    return subprocess.run(
        [*cli, "--project-directory", str(DEPLOY), "-f", str(COMPOSE_FILE),
         "--env-file", str(env_file), "config", "--format", "json"],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )


def test_docker_compose_config_accepts_the_stack(compose_cli, tmp_path):
    env_file = filled_env(tmp_path)
    run = compose_config(compose_cli, env_file)
    assert run.returncode == 0, run.stderr
    resolved = json.loads(run.stdout)
    services = resolved["services"]
    secrets_given = env_file_values(env_file.read_text())
    for name in REPLICAS:
        env = services[name]["environment"]
        database = urlsplit(env["DATABASE_URL"])
        assert (database.hostname, database.password) == ("postgres",
                                                          secrets_given["POSTGRES_PASSWORD"])
        assert env["BANK_DETAILS_KEY"] == secrets_given["BANK_DETAILS_KEY"]
        assert services[name]["image"] == f"appeasement-service:{project_version()}"
        assert Path(services[name]["build"]["context"]) == ROOT
        assert services[name]["read_only"] is True
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == \
        secrets_given["POSTGRES_PASSWORD"]
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert f"PLAINTEXT://{services['appeasement-1']['environment']['KAFKA_BOOTSTRAP_SERVERS']}" \
        in advertised


@pytest.mark.parametrize("secret", SECRETS)
def test_docker_compose_refuses_to_start_without_each_secret(compose_cli, tmp_path, secret):
    run = compose_config(compose_cli, filled_env(tmp_path, **{secret: ""}))
    assert run.returncode != 0
    assert secret in run.stderr


def test_the_service_accepts_the_configuration_compose_gives_it(compose_cli, tmp_path,
                                                                monkeypatch):
    """The replicas' resolved environment, read by the service's own Settings."""
    from service.bootstrap import build_service
    from service.settings import Settings

    resolved = json.loads(compose_config(compose_cli, filled_env(tmp_path)).stdout)
    for name in REPLICAS:
        for key, value in resolved["services"][name]["environment"].items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("POLICY_FILE", str(ROOT / "policy.toml"))  # the image's copy
        settings = Settings()
        service = build_service(settings)  # builds everything, connects nothing
        assert settings.http_host == "0.0.0.0" and settings.migrate_on_start
        assert settings.topic_replication_factor == 1, "one broker"
        assert (settings.topic_min_insync_replicas or 1) <= settings.topic_replication_factor
        assert service.authenticator is not None
