# The operator's and developer's entry points. `make demo` and `make test` are the two
# commands a fresh clone needs; everything they depend on is installed by `make setup`.
SHELL := /bin/bash
# Python 3.11 (what CI runs and Azure deploys) or 3.12, each in its own venv:
#   make test PYTHON=python3.12 VENV=.venv-3.12
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest's temporary folders, one set per checkout: under pytest's default (shared by
# every run of this user) one run's clean-up deleted another checkout's embedded
# PostgreSQL while it ran.
BASETEMP ?= /tmp/pytest-$(shell printf '%s' '$(CURDIR)' | cksum | cut -d' ' -f1)
PYTEST := $(BIN)/python -m pytest -q --basetemp=$(BASETEMP)

.PHONY: setup browser demo test test-unit test-integration test-e2e screenshots lint bench package check-azure clean

setup: $(STAMP) node_modules/.installed

# Re-installs only when a pin changes, so repeated `make setup` is quick.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The review page's browser test drives Debian's chromium through chromium-driver; installed
# by `make test` / `make test-e2e` when missing (CI runs as root; elsewhere through sudo).
APT_GET := $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  echo "installing chromium and chromium-driver (Debian packages) for the browser tests"; \
	  $(APT_GET) update -q && $(APT_GET) install -y -q chromium chromium-driver; \
	fi

demo: setup
	$(BIN)/payout demo

test: setup browser
	$(PYTEST)

test-unit: setup
	$(PYTEST) tests/unit

test-integration: setup
	$(PYTEST) tests/integration

test-e2e: setup browser
	$(PYTEST) tests/e2e

# The screenshots in docs/, taken again from what the code renders now.
screenshots: setup browser
	PAYOUT_UPDATE_SCREENSHOTS=1 $(PYTEST) tests/e2e/test_screenshots.py

lint: setup
	$(BIN)/ruff check .

# Benchmark figures: `make bench ROWS=1000000 LEADS=4000000 REPEAT=3`
ROWS ?= 1000000
LEADS ?= 4000000
REPEAT ?= 1
bench: setup
	$(BIN)/payout bench --rows $(ROWS) --leads $(LEADS) --repeat $(REPEAT)

# The zip a publish would upload (files chosen by .funcignore): dist/shiftpay-payout.zip
package: setup
	$(BIN)/python -m localdev.package dist/shiftpay-payout.zip

# The outside checks of the Azure deployment (README "Deploying to Azure"), from their own
# venv, never the app's: azure-functions-doctor on the project and checkov on infra/.
# After `azd up`, the azd environment's APPLICATIONINSIGHTS_CONNECTION_STRING is handed to
# the doctor (its App Insights check reads only the environment and local.settings.json).
CHECKS_VENV ?= /tmp/shiftpay-checks-venv
check-azure:
	test -x $(CHECKS_VENV)/bin/python || $(PYTHON) -m venv $(CHECKS_VENV)
	$(CHECKS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	  azure-functions-doctor==0.23.1 checkov==3.3.30
	VIRTUAL_ENV=$(CURDIR)/$(VENV) \
	APPLICATIONINSIGHTS_CONNECTION_STRING="$$(azd env get-value APPLICATIONINSIGHTS_CONNECTION_STRING 2>/dev/null || true)" \
	  $(CHECKS_VENV)/bin/azure-functions-doctor doctor --profile full --hosting-plan flex-consumption
	$(CHECKS_VENV)/bin/checkov -d infra --framework bicep --skip-download --compact --quiet

clean:
	rm -rf .state bench/out dist
