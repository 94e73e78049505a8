# `make plan` and `make test` create the virtualenv on first use (the same `venv` Pulumi uses).
PYTHON ?= python3
VENV := venv
PY := $(VENV)/bin/python
STACK ?= dev
FORMAT ?= text

.PHONY: plan test snapshots secrets-scan secrets-baseline benchmark

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

plan: $(VENV)/.installed
	$(PY) -m stacks plan $(STACK) --format $(FORMAT)

test: $(VENV)/.installed
	$(PY) -m pytest
	$(MAKE) --no-print-directory secrets-scan

snapshots: $(VENV)/.installed
	$(PY) -m tests.snapshots

secrets-scan: $(VENV)/.installed
	git ls-files -z | xargs -0 $(VENV)/bin/detect-secrets-hook --baseline .secrets.baseline

secrets-baseline: $(VENV)/.installed
	$(VENV)/bin/detect-secrets scan > .secrets.baseline

benchmark: $(VENV)/.installed
	$(PY) -m stacks.benchmark
