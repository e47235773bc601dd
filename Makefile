# The two commands a new user needs: `make run` starts everything, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Every package pinned with its hashes (`make lock` refreshes both): dev.lock is the project
# with its `embedded` and `test` extras (make run, make test), runtime.lock the service alone
# (the image), at the same versions.
LOCK := requirements/dev.lock
RUNTIME_LOCK := requirements/runtime.lock
UV_VERSION := 0.13.9
UV := $(VENV)/lock-tool/bin/uv
LOCK_FLAGS := --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock"
# `make lock UPGRADE=` keeps today's pins and only adds what pyproject.toml asks for anew.
UPGRADE ?= --upgrade
IMAGE ?= appeasement-service

.PHONY: run test lint unit integration e2e deploy-check contracts contracts-check demo bench chaos \
	lock image k8s-policy clean

$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m service run

test: $(STAMP)
	sh tests/browser/chromium.sh
	$(PY) -m pytest -q

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit tests/contract

integration: $(STAMP)
	$(PY) -m pytest -q tests/integration

e2e: $(STAMP)
	$(PY) -m pytest -q tests/e2e

lint: $(STAMP)
	$(PY) -m ruff check service schemas tests bench chaos
	$(PY) -m mypy

deploy-check: $(STAMP)
	$(PY) -m pytest -q tests/deploy

contracts: $(STAMP)
	$(PY) -m service contracts

contracts-check: $(STAMP)
	$(PY) -m service contracts --check

demo: $(STAMP)
	$(PY) -m service demo

bench: $(STAMP)
	$(PY) -m bench

chaos: $(STAMP)
	$(PY) -m chaos

$(UV):
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target $(VENV)/lock-tool uv==$(UV_VERSION)

# Resolve pyproject.toml (+ requirements/build.in: pip and setuptools) from PyPI anew.
lock: $(UV)
	$(UV) pip compile $(LOCK_FLAGS) $(UPGRADE) --extra embedded --extra test \
		pyproject.toml requirements/build.in -o $(LOCK)
	$(UV) pip compile $(LOCK_FLAGS) -c $(LOCK) pyproject.toml requirements/build.in -o $(RUNTIME_LOCK)

# deploy/k8s/policy.yaml (the policy ConfigMap) from policy.toml; a deploy test checks they agree.
k8s-policy: $(STAMP)
	$(PY) -m tests.deploy.files

# Needs a Docker engine; the version is pyproject.toml's.
image:
	docker build -t $(IMAGE):$$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml) -t $(IMAGE):latest .

clean:
	rm -rf $(VENV) .run .pytest_cache .hypothesis
