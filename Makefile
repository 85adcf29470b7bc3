# Two commands do everything on a fresh machine: `make run` and `make test`.
# Both share one bootstrap (scripts/local_services.py): named services are used, unnamed ones are
# found on their usual ports or started embedded, and Azurite is started when absent.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
LOCAL := .local

.PHONY: run test unit lint doctor typecheck migrate services-run services-test demo bench bench-metrics fuzz clean help iac chromium

help:
	@echo "make run    - install what is missing, start services, simulator and devhost (127.0.0.1:7071)"
	@echo "make test   - install what is missing, start services, run lint, types and every test tier"
	@echo "make unit   - the fast tier only (no services)"
	@echo "make doctor - azure-functions-doctor on the project; fails on any finding not explained"
	@echo "make demo   - play hiring journeys against the running app, interviews and offers too (after make run)"
	@echo "make bench  - benchmarks (see README)"
	@echo "make fuzz   - the long property run: 1,000 rounds of mutated deliveries, none lost (about 2 minutes here)"
	@echo "make iac    - parse every Bicep file under infra/ and run checkov on it (own venv)"
	@echo "make bench-metrics - the metrics endpoint over 1 M seeded events beside an indexed lookup"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' \
		|| { echo "Python 3.11 is required (Azure Functions' 1.2x line); set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node.js 20+) is required for Azurite: apt-get install nodejs npm"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

deps: $(VENV)/.installed node_modules/.installed

# The dashboard's test drives Debian's chromium through Playwright (never `playwright install`,
# which downloads a browser): installed here when missing and we are root, else named.
chromium:
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian's chromium (the dashboard test's browser)"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
				|| { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }; \
		else \
			echo "the dashboard test needs Debian's chromium package: sudo apt-get install -y chromium"; exit 1; \
		fi; }

# The infrastructure checks run from their own virtual environment: checkov's pins conflict
# with the app's. No Bicep compiler runs offline; deploy.yml runs `az bicep build` and what-if.
IAC_VENV := $(VENV)/iac
$(IAC_VENV)/.installed: requirements-iac.txt
	test -x $(IAC_VENV)/bin/python || $(PYTHON) -m venv $(IAC_VENV)
	$(IAC_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(IAC_VENV)/bin/python -m pip install --quiet -r requirements-iac.txt
	touch $@

iac: $(IAC_VENV)/.installed
	$(IAC_VENV)/bin/python infra/tools/bicep_facts.py infra > /dev/null
	$(IAC_VENV)/bin/checkov --directory infra --framework bicep --skip-download --compact --quiet

local.settings.json:
	cp local.settings.sample.json local.settings.json
	@echo "created local.settings.json from local.settings.sample.json"

services-test: deps
	$(PY) scripts/local_services.py test --env-file $(LOCAL)/test.env

services-run: deps local.settings.json
	$(PY) scripts/local_services.py run --env-file $(LOCAL)/run.env

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

unit: $(VENV)/.installed
	$(VENV)/bin/pytest -q tests/unit

# The doctor's warnings that are not faults are explained in scripts/doctor_gate.py and
# docs/operations.md ("Deployment checks"); any other finding fails.
doctor: $(VENV)/.installed
	$(PY) scripts/doctor_gate.py

test: services-test chromium lint doctor iac
	source $(LOCAL)/test.env && $(VENV)/bin/pytest -q -p no:cacheprovider

migrate: services-run
	source $(LOCAL)/run.env && $(PY) -m shared.migrate

run: services-run
	source $(LOCAL)/run.env && $(PY) -m shared.migrate
	source $(LOCAL)/run.env && exec $(PY) -m scripts.run_local

demo: $(VENV)/.installed
	$(PY) -m portal_simulator scenario --candidates 5
	@if [ -f $(LOCAL)/run.env ]; then source $(LOCAL)/run.env; fi; $(PY) -m scripts.demo_ats
	@if [ -f $(LOCAL)/run.env ]; then source $(LOCAL)/run.env; fi; $(PY) -m scripts.demo_report

# The long run of the property test (README, "Tests"): about 600 rounds of mutated deliveries.
fuzz: services-test
	source $(LOCAL)/test.env && HYPOTHESIS_PROFILE=fuzz $(VENV)/bin/pytest -q -p no:cacheprovider -s \
		tests/integration/test_acknowledged_never_lost.py

bench: services-test
	source $(LOCAL)/test.env && $(PY) bench/ingest.py
	source $(LOCAL)/test.env && $(PY) bench/documents.py
	source $(LOCAL)/test.env && $(PY) bench/outbound.py

bench-metrics: services-test
	source $(LOCAL)/test.env && $(PY) bench/metrics.py

clean:
	rm -rf $(LOCAL)/azurite $(LOCAL)/*.env
