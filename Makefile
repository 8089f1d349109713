# One entry point for people and CI. Every target installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
RUNTIME_VENV := .venv-runtime
CHECKOV_VENV := .venv-checkov
PY := $(VENV)/bin/python
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

FUNCTION ?= HealthFunction
EVENT ?= events/health.json
WEBHOOK ?= events/stripe_webhook_payment_intent_succeeded.json

.PHONY: help install services prometheus lint types checkov unit component e2e integration artifact test fuzz local invoke webhook migrate check-config bench bench-load build validate lock sam-local sam-env clean

help:
	@echo "make local    run the bundle on 127.0.0.1:3000 (moto, localstripe, Redis, MySQL)"
	@echo "make test     lint, types, unit, component, end-to-end, packaging and built-artifact tests, with make sam-local beside them"
	@echo "make unit | component | e2e | integration (component + e2e) | artifact: one part alone"
	@echo "make fuzz     schemathesis against the local stack with docs/openapi.yaml, $(FUZZ_EXAMPLES) cases per operation"
	@echo "make invoke   FUNCTION=<LogicalId> EVENT=events/<file>.json against the local stack (no Docker)"
	@echo "make sam-local  the real sam local invoke (every events/ file) and start-api (every route), in containers"
	@echo "make sam-env  write .local/sam/env.json (+ template.json) for your own sam local invoke/start-api"
	@echo "make webhook  WEBHOOK=events/stripe_webhook_<type>.json: sign it now, invoke StripeWebhookFunction"
	@echo "make migrate  apply the MySQL migrations (security_logs) to DB_* (.env)"
	@echo "make bench    concurrency, cold-start, round-trip and load figures"
	@echo "make bench-load  the load run alone: signed webhooks and events from several processes"
	@echo "make build    sam validate --lint and sam build"
	@echo "make checkov  checkov's CloudFormation checks on the SAM-translated template (waivers: .checkov.yaml)"
	@echo "make lock     re-resolve the hashed lock files from the *.in files (UPGRADE=1: newest transitive versions)"

# Installs come from the hashed locks (requirements-dev.txt, requirements-runtime.txt; `make lock`
# writes them), exactly what they list (--no-deps; `pip check` then proves nothing is missing).
# pip's "Location ... is ignored" notes about this machine's local indexes are filtered out; the
# `==>` lines say what is happening.
PIP_QUIET := 2>&1 | grep -v "^WARNING: Location"; test $${PIPESTATUS[0]} -eq 0

$(VENV)/.installed: requirements-dev.txt pyproject.toml
	@echo "==> $(VENV): installing the development tools from requirements-dev.txt (hashed lock; a few minutes the first time)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { echo "make: $(PYTHON) with venv is needed (see the README's Prerequisites)" >&2; exit 1; }
	@$(PY) -m pip install -q --require-hashes --no-deps -r requirements-dev.txt $(PIP_QUIET)
	@$(PY) -m pip check >/dev/null || { $(PY) -m pip check; echo "make: requirements-dev.txt is incomplete; run make lock" >&2; exit 1; }
	@echo "==> $(VENV): installing this project (editable, platform_monitoring from shared/)"
	@$(PY) -m pip install -q --no-deps --no-build-isolation -e . $(PIP_QUIET)
	@touch $@

$(RUNTIME_VENV)/.installed: requirements-runtime.txt
	@echo "==> $(RUNTIME_VENV): installing what the Lambda base image has (requirements-runtime.txt, hashed lock)"
	@test -x $(RUNTIME_VENV)/bin/python || $(PYTHON) -m venv $(RUNTIME_VENV)
	@$(RUNTIME_VENV)/bin/pip install -q --require-hashes --no-deps -r requirements-runtime.txt $(PIP_QUIET)
	@touch $@

install: $(VENV)/.installed $(RUNTIME_VENV)/.installed

# checkov in its own venv: its pins (packaging<24, ...) conflict with pytest's (about a minute the first time).
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@echo "==> $(CHECKOV_VENV): installing checkov from requirements-checkov.txt (hashed lock)"
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@$(CHECKOV_VENV)/bin/pip install -q --require-hashes --no-deps -r requirements-checkov.txt $(PIP_QUIET)
	@touch $@

services:
	@echo "==> services: Redis on 127.0.0.1:6379 and MariaDB on 127.0.0.1:3306 (started when not answering)"
	@scripts/ensure-services

prometheus:
	@scripts/ensure-prometheus

# The library's layers (pyproject.toml [tool.importlinter], docs/architecture.md) and no import cycle.
lint: install
	@echo "==> lint: ruff check and ruff format --check"
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	PYTHONPATH=. $(VENV)/bin/lint-imports --no-cache
	PYTHONPATH=. $(PY) scripts/check_import_cycles.py
	$(PY) scripts/readme_map.py --check
	$(PY) scripts/config_table.py --check
	$(PY) scripts/generate_slo_rules.py --check

types: install
	@echo "==> types: mypy (strict)"
	$(VENV)/bin/mypy

# checkov's CloudFormation checks on the SAM-translated template; the waivers are .checkov.yaml's
# (docs/security.md#checkov-waivers). About 10 s.
checkov: install $(CHECKOV_VENV)/.installed
	@echo "==> checkov: the SAM-translated template, waivers in .checkov.yaml"
	$(PY) scripts/checkov_scan.py

validate: install
	@echo "==> validate: sam validate --lint"
	$(VENV)/bin/sam validate --lint

build: validate
	@echo "==> build: sam build (the layer from shared/requirements.txt, hashed; cached after the first run)"
	$(VENV)/bin/sam build --cached --parallel

# tests/unit/<concern>/ mirrors platform_monitoring's subpackages; no sockets.
unit: install
	$(VENV)/bin/pytest tests/unit

# One real server each (Redis, MariaDB, moto server, localstripe, a local capture); tests/contract
# runs each store's contract on its fake and on the real store.
component: install services
	$(VENV)/bin/pytest tests/component tests/contract

# The whole local stack (the `local_stack` of tests/support/local_stack.py).
e2e: install services
	$(VENV)/bin/pytest tests/e2e

integration: install services
	$(VENV)/bin/pytest tests/component tests/contract tests/e2e

# The artifact tests use the build this run's `build` target just made (and its sam validate --lint).
test artifact: export ARTIFACT_BUILD_DIR = $(CURDIR)/.aws-sam/build

artifact: build
	$(VENV)/bin/pytest tests/artifact

# `make test`, as parallel as this machine's two cores allow:
# 1. the venvs, the services and Prometheus at once (make -j, output kept per target);
# 2. from then on, in the background: pytest on tests/e2e (the longest part, mostly waiting on the
#    local stack; .local/pytest-e2e.log, printed after) and the SAM engine and base image
#    (`sam_local prepare`: docker.io and the image on a fresh machine). A third pytest session (the
#    OpenAPI contract test apart) was tried: four heavy processes on two cores made the stack's
#    functions time out (a 10 s Lambda timeout, a fault-matrix wait);
# 3. beside them, lint, types, checkov and the build, two at a time; when they pass, `make sam-local`
#    in the background (every events/ file and route, 2 invokes at a time; .local/sam/test.log) and
#    pytest on every other test on screen (the artifact tests need the build). A failed check stops
#    the end-to-end session at once (SIGINT: its fixtures stop their servers).
# The sessions and sam-local use disjoint Redis databases (tests/conftest.py; sam-local 3) and MySQL
# databases, and each session logs its AWS calls apart; then the least-privilege check judges both
# sessions' calls together. Their temporary directories are outside the repository (the wheel test
# proves it installs from outside it). Anything failing fails the run.
SAM_LOCAL_BESIDE_PYTEST := REDIS_URL=redis://127.0.0.1:6379/3 DB_DATABASE=askproai_sam_local
PARALLEL := $(MAKE) --no-print-directory --output-sync=target
CALLS := .local/aws-calls
LEAST_PRIVILEGE := tests/e2e/test_least_privilege.py
test:
	@$(PARALLEL) -j4 install services prometheus $(CHECKOV_VENV)/.installed
	@mkdir -p .local/sam $(CALLS); temp=$$(mktemp -d /tmp/askproai-pytest.XXXXXX); \
	echo "==> test: pytest tests/e2e in the background from now on (.local/pytest-e2e.log): the local stack end to end"; \
	TEST_AWS_CALL_LOG=$(CALLS)/e2e.jsonl $(VENV)/bin/pytest tests/e2e --ignore=$(LEAST_PRIVILEGE) \
		--basetemp=$$temp/e2e > .local/pytest-e2e.log 2>&1 & e2e=$$!; \
	echo "==> test: the SAM engine and base image in the background (.local/sam/test.log)"; \
	$(PY) -m localdev.sam_local prepare > .local/sam/test.log 2>&1 & prepare=$$!; \
	$(PARALLEL) -j2 lint types checkov build; checks=$$?; \
	wait $$prepare; prepared=$$?; \
	if [ $$checks -eq 0 ] && [ $$prepared -eq 0 ]; then \
		echo "==> test: make sam-local in the background (.local/sam/test.log): every events/ file and route"; \
		$(SAM_LOCAL_BESIDE_PYTEST) $(PY) -m localdev.sam_local --jobs 2 >> .local/sam/test.log 2>&1 & sam_local=$$!; \
		echo "==> test: pytest on unit, localdev, assets, packaging, component, contract, artifact (beside tests/e2e)"; \
		TEST_AWS_CALL_LOG=$(CALLS)/rest.jsonl $(VENV)/bin/pytest tests --ignore=tests/e2e --basetemp=$$temp/rest; \
		rest=$$?; wait $$sam_local; sam_local_status=$$?; \
	else \
		echo "==> test: a check or the SAM engine failed: stopping tests/e2e"; kill -INT $$e2e; \
		rest=1; sam_local_status=$$prepared; \
	fi; \
	wait $$e2e; e2e_status=$$?; \
	echo "==> test: pytest tests/e2e (ran beside everything above):"; \
	sed 's/^/    /' .local/pytest-e2e.log; \
	echo "==> test: least privilege, on the AWS calls of both sessions"; \
	TEST_AWS_CALL_LOGS_OF="$(CALLS)/e2e.jsonl $(CALLS)/rest.jsonl" $(VENV)/bin/pytest $(LEAST_PRIVILEGE); privilege=$$?; \
	echo "==> test: make sam-local (the real SAM CLI: every events/ file and every route; ran beside pytest):"; \
	sed 's/^/    /' .local/sam/test.log; \
	rm -rf $$temp; \
	for status in $$checks $$e2e_status $$rest $$privilege $$sam_local_status; do \
		[ $$status -eq 0 ] || exit $$status; done

# The real `sam local invoke` for every events/ file and `sam local start-api` for every route, in
# Lambda containers, against moto, localstripe, Redis and MySQL. Installs Debian's docker.io and
# builds the base image when the machine has no engine (README, "sam local"). SAM_LOCAL_ARGS:
# e.g. "--event health.json --no-api".
SAM_LOCAL_ARGS ?=
sam-local: build services
	$(PY) -m localdev.sam_local $(SAM_LOCAL_ARGS)

# The env-vars file (and the template that declares its variables) for your own `sam local`:
# from the running `make local` stack, else from .env and this shell.
sam-env: build
	$(PY) -m localdev.sam_local env

# The API contract test (`make test` runs it with 25 cases per operation and a fixed seed) with many
# more cases, a new seed each run (CONTRACT_SEED=<n> repeats one) and no per-test time limit.
FUZZ_EXAMPLES ?= 500
fuzz: install services
	CONTRACT_MAX_EXAMPLES=$(FUZZ_EXAMPLES) CONTRACT_SEED=$${CONTRACT_SEED:-random} \
		$(VENV)/bin/pytest tests/e2e/test_openapi_contract.py --timeout=0

local: install services
	@echo "==> local: starting the local stack (moto server, localstripe, migrations, the functions; Ctrl-C stops it)"
	$(PY) -m localdev.stack

invoke: install
	$(PY) -m localdev.invoke $(FUNCTION) $(EVENT)

# The sample webhook events are signed at a fixed time (outside Stripe's 5-minute tolerance by
# now): re-sign with STRIPE_WEBHOOK_SECRET and a new event ID, then invoke.
webhook: install
	$(PY) -m localdev.stripe_sign --event-id $(WEBHOOK) | $(PY) -m localdev.invoke StripeWebhookFunction -

# The MySQL migrations (shared/platform_monitoring/tools/migrations/*.sql) against DB_HOST/DB_DATABASE...;
# `make local` applies them too. Shell variables win over .env.
migrate: install services
	$(PY) -m platform_monitoring.tools.migrate

# Every function's settings from a samconfig environment (CONFIG_ENV=prod) or a file (ENV_FILE=.env).
check-config: install
	$(PY) scripts/check_config.py $(if $(CONFIG_ENV),--config-env $(CONFIG_ENV)) $(if $(ENV_FILE),--env-file $(ENV_FILE))

# BENCH_PARTS="2 9": those parts only (numbered as bench/__main__.py's docstring lists them).
bench: install services prometheus
	@echo "==> bench: concurrency, cold-start, round-trip and load figures (each part says when it starts)"
	$(PY) -m bench

# The load run alone (bench/load_bench.py; also the last part of `make bench`): sizes from LOAD_* variables.
bench-load: install services
	$(PY) -m bench.load_bench

# Re-resolve the locks from the *.in files (after changing a pin there): the layer's for Lambda
# (python3.11, x86_64 manylinux), the runtime mirror, and the dev tools constrained to the layer's
# versions. `make lock UPGRADE=1` moves every unpinned transitive dependency to its newest release.
LOCK := $(VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux2014 --no-strip-extras $(if $(UPGRADE),--upgrade)
# $(1) the .in file, $(2) its lock, $(3) more uv options. uv starts from the lock's versions; the lock
# is replaced only when it changed, so an unchanged one does not make the next `make` reinstall.
define lock_one
	@cp $(2) $(2).new 2>/dev/null || true
	@UV_CUSTOM_COMPILE_COMMAND="make lock" $(LOCK) $(3) $(1) -o $(2).new
	@if cmp -s $(2) $(2).new; then rm $(2).new; echo "    $(2): unchanged"; else mv $(2).new $(2); echo "    $(2): updated"; fi
endef

lock: $(VENV)/.installed
	@echo "==> lock: shared/requirements.txt, requirements-runtime.txt, requirements-dev.txt (uv, with hashes)"
	$(call lock_one,shared/requirements.in,shared/requirements.txt)
	$(call lock_one,requirements-runtime.in,requirements-runtime.txt)
	$(call lock_one,requirements-dev.in,requirements-dev.txt,--constraint shared/requirements.txt)
	$(call lock_one,requirements-checkov.in,requirements-checkov.txt)

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
