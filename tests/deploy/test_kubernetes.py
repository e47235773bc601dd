"""deploy/k8s/: every manifest against Kubernetes' own JSON schemas (from the kubernetes-validate
wheel, no download), and what the service needs from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.files import (
    K8S,
    POLICY_CONFIGMAP,
    POLICY_PATH,
    ROOT,
    SECRET_EXAMPLE,
    k8s_manifests,
    k8s_object,
    policy_configmap,
    project_version,
    service_topics,
    setting_names,
)

#: The oldest Kubernetes these manifests are for, and the newest the wheel knows.
VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
MANIFESTS = k8s_manifests()


def test_the_folder_has_every_object_the_service_needs():
    kinds = sorted((doc["kind"], doc["metadata"]["name"])
                   for docs in MANIFESTS.values() for doc in docs)
    assert kinds == [
        ("ConfigMap", "appeasement-config"), ("ConfigMap", "appeasement-policy"),
        ("Deployment", "appeasement-service"), ("PodDisruptionBudget", "appeasement-service"),
        ("Secret", "appeasement-secrets"), ("Service", "appeasement-service"),
    ]
    assert SECRET_EXAMPLE.parent != K8S, "`kubectl apply -f deploy/k8s/` must not apply it"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", sorted(MANIFESTS), ids=lambda p: str(p.relative_to(K8S)))
def test_every_manifest_is_valid_against_the_kubernetes_schema(path, version):
    for document in MANIFESTS[path]:
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            location = "/".join(str(part) for part in error.path)
            pytest.fail(f"{path.name}: {document['kind']} at {location}: {error.message}")


def container() -> dict[str, Any]:
    deployment = k8s_object("Deployment")
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def test_two_replicas_with_the_image_of_this_version():
    deployment = k8s_object("Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert container()["image"].rsplit(":", 1)[1] == project_version()
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_probes_liveness_healthz_readiness_readyz_and_a_startup_probe():
    probes = container()
    port = {p["name"]: p["containerPort"] for p in probes["ports"]}
    assert port == {"http": 8080}
    assert probes["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert probes["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert probes["startupProbe"]["httpGet"]["path"] == "/healthz"
    startup = probes["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60, "room for migrations"


def test_resources_and_a_non_root_read_only_container():
    spec = k8s_object("Deployment")["spec"]["template"]["spec"]
    resources = container()["resources"]
    assert resources["requests"].keys() == resources["limits"].keys() == {"cpu", "memory"}
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    security = container()["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m for m in container()["volumeMounts"]}
    assert "/tmp" in mounts, "a writable /tmp beside the read-only root"
    assert spec["automountServiceAccountToken"] is False


def config() -> dict[str, str]:
    return k8s_object("ConfigMap", "appeasement-config")["data"]


def test_the_settings_are_real_ones_and_every_needed_one_is_given():
    data = config()
    secret = k8s_object("Secret")["stringData"]
    known = setting_names()
    assert not data.keys() - known, f"the service never reads {data.keys() - known}"
    assert not {k.upper() for k in secret} - known, "a Secret key the service never reads"
    given = data.keys() | {k.upper() for k in secret}
    assert {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "BANK_DETAILS_KEY", "AUTH_JWT_KEY"} <= given
    assert data["HTTP_HOST"] == "0.0.0.0" and data["MIGRATE_ON_START"] == "true"
    if data["KAFKA_SECURITY_PROTOCOL"].startswith("SASL"):
        assert data["KAFKA_SASL_MECHANISM"]
        assert {"kafka_sasl_username", "kafka_sasl_password"} <= secret.keys()
    assert int(data["TOPIC_MIN_INSYNC_REPLICAS"]) < int(data["TOPIC_REPLICATION_FACTOR"])


def test_the_secret_is_mounted_at_secrets_dir_and_holds_placeholders_only():
    secret = k8s_object("Secret")
    assert all(value == "" for value in secret["stringData"].values()), "never a real value"
    assert "data" not in secret
    volumes = {v["name"]: v for v in k8s_object("Deployment")["spec"]["template"]["spec"]["volumes"]}
    (mount,) = [m for m in container()["volumeMounts"]
                if volumes[m["name"]].get("secret", {}).get("secretName") ==
                secret["metadata"]["name"]]
    assert mount["mountPath"] == config()["SECRETS_DIR"] and mount["readOnly"] is True
    mode = volumes[mount["name"]]["secret"]["defaultMode"]
    assert mode & 0o040, "readable by the pod's group (fsGroup), the files being root's"
    assert not mode & 0o007, "not world-readable"


def test_the_policy_configmap_is_mounted_at_policy_file_and_is_the_repository_policy():
    from service.adapters.policy_file import load_policy

    assert config()["POLICY_FILE"] == POLICY_PATH
    policy = k8s_object("ConfigMap", "appeasement-policy")
    volumes = {v["name"]: v for v in k8s_object("Deployment")["spec"]["template"]["spec"]["volumes"]}
    (mount,) = [m for m in container()["volumeMounts"]
                if volumes[m["name"]].get("configMap", {}).get("name") ==
                policy["metadata"]["name"]]
    items = {i["key"]: i["path"] for i in volumes[mount["name"]]["configMap"]["items"]}
    assert str(Path(mount["mountPath"]) / items["policy.toml"]) == POLICY_PATH
    text = (ROOT / "policy.toml").read_text()
    assert policy["data"]["policy.toml"] == text, "policy.toml changed: run `make k8s-policy`"
    assert POLICY_CONFIGMAP.read_text() == policy_configmap(text), "run `make k8s-policy`"
    assert load_policy(ROOT / "policy.toml").reasons


def test_the_service_and_the_disruption_budget_select_the_replicas():
    labels = k8s_object("Deployment")["spec"]["template"]["metadata"]["labels"]
    service = k8s_object("Service")["spec"]
    assert service["selector"].items() <= labels.items()
    assert service["ports"][0]["targetPort"] == "http"
    budget = k8s_object("PodDisruptionBudget")["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    assert budget["minAvailable"] == 1 < k8s_object("Deployment")["spec"]["replicas"]


def test_the_service_accepts_the_configuration_kubernetes_gives_it(tmp_path, monkeypatch):
    """The ConfigMap as environment and the Secret as files in SECRETS_DIR, filled in, read by
    the service's own Settings."""
    from cryptography.fernet import Fernet

    from service.bootstrap import build_service
    from service.settings import Settings

    filled = {"database_url": "postgresql://appeasement:pw@postgres.example:5432/appeasement",
              "bank_details_key": Fernet.generate_key().decode(), "auth_jwt_key": "k" * 64,
              "kafka_sasl_username": "appeasement", "kafka_sasl_password": "secret",
              "mcom_shared_secret": "m" * 64}
    assert filled.keys() == k8s_object("Secret")["stringData"].keys()
    for key, value in filled.items():
        (tmp_path / key).write_text(value + "\n")
    for key, value in config().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("POLICY_FILE", str(ROOT / "policy.toml"))
    settings = Settings(_secrets_dir=tmp_path)
    assert settings.database_url == filled["database_url"]
    assert settings.kafka_security().username == "appeasement"
    assert settings.mcom_secret() is not None
    build_service(settings)  # builds everything, connects nothing


def test_the_readme_lists_every_topic_for_those_who_create_them_themselves():
    readme = (ROOT / "README.md").read_text()
    deploy = readme.split("\n## Deploy\n", 1)[1].split("\n## ", 1)[0]
    missing = [topic for topic in service_topics() if f"`{topic}`" not in deploy]
    assert not missing, f"README.md, Deploy: add {missing}"
