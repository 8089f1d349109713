# One entry point for people and CI. Every target installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
RUNTIME_VENV := .venv-runtime
PY := $(VENV)/bin/python
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

FUNCTION ?= HealthFunction
EVENT ?= events/health.json
WEBHOOK ?= events/stripe_webhook_payment_intent_succeeded.json

.PHONY: help install services prometheus lint types unit integration artifact test fuzz local invoke webhook migrate bench bench-load build validate sam-local sam-env clean

help:
	@echo "make local    run the bundle on 127.0.0.1:3000 (moto, localstripe, Redis, MySQL)"
	@echo "make test     lint, types, unit, integration and built-artifact tests, then make sam-local"
	@echo "make fuzz     schemathesis against the local stack with docs/openapi.yaml, $(FUZZ_EXAMPLES) cases per operation"
	@echo "make invoke   FUNCTION=<LogicalId> EVENT=events/<file>.json against the local stack (no Docker)"
	@echo "make sam-local  the real sam local invoke (every events/ file) and start-api (every route), in containers"
	@echo "make sam-env  write .local/sam/env.json (+ template.json) for your own sam local invoke/start-api"
	@echo "make webhook  WEBHOOK=events/stripe_webhook_<type>.json: sign it now, invoke StripeWebhookFunction"
	@echo "make migrate  apply the MySQL migrations (security_logs) to DB_* (.env)"
	@echo "make bench    concurrency, cold-start, round-trip and load figures"
	@echo "make bench-load  the load run alone: signed webhooks and events from several processes"
	@echo "make build    sam validate --lint and sam build"

$(VENV)/.installed: requirements-dev.txt shared/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -m pip install -q -r requirements-dev.txt 2>&1 | grep -v "^WARNING: Location"; test $${PIPESTATUS[0]} -eq 0
	$(PY) -m pip install -q -e . 2>&1 | grep -v "^WARNING: Location"; test $${PIPESTATUS[0]} -eq 0
	touch $@

$(RUNTIME_VENV)/.installed: requirements-runtime.txt
	test -x $(RUNTIME_VENV)/bin/python || $(PYTHON) -m venv $(RUNTIME_VENV)
	$(RUNTIME_VENV)/bin/pip install -q -r requirements-runtime.txt 2>&1 | grep -v "^WARNING: Location"; test $${PIPESTATUS[0]} -eq 0
	touch $@

install: $(VENV)/.installed $(RUNTIME_VENV)/.installed

services:
	@scripts/ensure-services

prometheus:
	@scripts/ensure-prometheus

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: install
	$(VENV)/bin/mypy

validate: install
	$(VENV)/bin/sam validate --lint

build: validate
	$(VENV)/bin/sam build --cached --parallel

unit: install
	$(VENV)/bin/pytest tests/unit

integration: install services
	$(VENV)/bin/pytest tests/integration

artifact: build
	$(VENV)/bin/pytest tests/artifact

test: install services prometheus lint types build
	$(VENV)/bin/pytest tests
	$(PY) -m localdev.sam_local

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
		$(VENV)/bin/pytest tests/integration/test_openapi_contract.py --timeout=0

local: install services
	$(PY) -m localdev.stack

invoke: install
	$(PY) -m localdev.invoke $(FUNCTION) $(EVENT)

# The sample webhook events are signed at a fixed time (outside Stripe's 5-minute tolerance by
# now): re-sign with STRIPE_WEBHOOK_SECRET and a new event ID, then invoke.
webhook: install
	$(PY) -m localdev.stripe_sign --event-id $(WEBHOOK) | $(PY) -m localdev.invoke StripeWebhookFunction -

# The MySQL migrations (shared/platform_monitoring/migrations/*.sql) against DB_HOST/DB_DATABASE...;
# `make local` applies them too. Shell variables win over .env.
migrate: install services
	$(PY) -m platform_monitoring.migrate

bench: install services
	$(PY) -m bench

# The load run alone (bench/load_bench.py; also the last part of `make bench`): sizes from LOAD_* variables.
bench-load: install services
	$(PY) -m bench.load_bench

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
