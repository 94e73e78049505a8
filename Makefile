# `make plan` and `make test` create the virtualenv on first use (the same `venv` Pulumi uses).
PYTHON ?= python3
VENV := venv
PY := $(VENV)/bin/python
STACK ?= dev
FORMAT ?= text
# Worlds the end-to-end scenarios run in at once, a file each at a time: most of a scenario is
# waiting (for the engine, the controller, a refresh), so two share two cores.
E2E_WORKERS ?= 2

.PHONY: venv plan test snapshots secrets-baseline benchmark e2e

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

plan: $(VENV)/.installed
	$(PY) -m stacks plan $(STACK) --format $(FORMAT)

test: $(VENV)/.installed
	$(PY) -m pytest

snapshots: $(VENV)/.installed
	$(PY) -m tests.snapshots

# Rescans the tracked files with the baseline's own filters, then asks about each new finding.
secrets-baseline: $(VENV)/.installed
	$(VENV)/bin/detect-secrets scan --baseline .secrets.baseline
	$(VENV)/bin/detect-secrets audit .secrets.baseline

benchmark: $(VENV)/.installed
	$(PY) -m tools.plan.benchmark

# The end-to-end suite: builds its binaries once into ~/.cache/eso-platform/e2e (needs Go), then
# runs the program with the real Pulumi engine against a real kube-apiserver and ESO controller,
# and moto behind the IAM front; see docs/end-to-end.md.
e2e: $(VENV)/.installed
	$(PY) -m e2e.build
	$(PY) -m pytest e2e -n $(E2E_WORKERS) --dist loadfile --durations=15
	$(PY) -m e2e.measure --out e2e-measurements.json
