# The two commands a new user needs: `make run` starts everything, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test unit integration e2e contracts contracts-check demo bench chaos clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m service run

test: $(STAMP)
	$(PY) -m pytest -q

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit tests/contract

integration: $(STAMP)
	$(PY) -m pytest -q tests/integration

e2e: $(STAMP)
	$(PY) -m pytest -q tests/e2e

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

clean:
	rm -rf $(VENV) .run .pytest_cache .hypothesis
