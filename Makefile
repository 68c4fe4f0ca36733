# Every variable here is a default: the environment always wins (`PORT=9000 make run`).
PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8000
# No token checks for local development; the service logs a warning saying so.
AUTH_MODE ?= none
# `make run` uses the endpoint in AWS_ENDPOINT_URL_DYNAMODB when one is set, else the embedded DynamoDB.
DYNAMODB_MODE ?= $(if $(AWS_ENDPOINT_URL_DYNAMODB),endpoint,embedded)
# The embedded moto of `make run` (DynamoDB, its stream, SNS and SQS on one port), where `make
# watch-events` finds the lab's queues.
EMBEDDED_PORT ?= 4566
LOCAL_AWS ?= http://127.0.0.1:$(EMBEDDED_PORT)
QUEUE ?= AllStatusUpdatesQueue

BIN := $(VENV)/bin
# Two stamps in one virtualenv: what running needs (`make run`), then the test, lint and benchmark tools on
# top (`make test`), so the first `make run` on a fresh machine installs only the first set.
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed

.PHONY: help run watch-events test test-dynalite test-fuzz lint compose-config typecheck check init-table seed audit docs lambda-zip bench-cold-start bench-instructions bench bench-latency lock clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (PYTHON=$(PYTHON))" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): requirements/local.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/local.txt
	touch $(RUN_STAMP)

$(STAMP): requirements/dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	touch $(STAMP)

run: $(RUN_STAMP)  ## serve the API (embedded DynamoDB seeded with the lab's rows, and its events, unless an endpoint is set)
	HOST=$(HOST) PORT=$(PORT) DYNAMODB_MODE=$(DYNAMODB_MODE) AUTH_MODE=$(AUTH_MODE) EMBEDDED_PORT=$(EMBEDDED_PORT) \
		$(BIN)/python -m service serve

watch-events: $(RUN_STAMP)  ## print each message reaching a lab queue of `make run` (QUEUE=VehicleCompletedQueue)
	AWS_ENDPOINT_URL_DYNAMODB=$${AWS_ENDPOINT_URL_DYNAMODB:-$(LOCAL_AWS)} \
		AWS_ENDPOINT_URL_SQS=$${AWS_ENDPOINT_URL_SQS:-$(LOCAL_AWS)} \
		$(BIN)/python -m service watch-events --queue $(QUEUE)

test: $(STAMP)  ## the whole test suite, against moto's DynamoDB server over HTTP
	$(BIN)/python -m pytest

# dynalite for the tests and the benchmarks, pinned by tests/dynalite/package-lock.json; npm stamps package
# files with an old date, hence the stamp.
DYNALITE_STAMP := tests/dynalite/node_modules/.installed

$(DYNALITE_STAMP): tests/dynalite/package-lock.json
	cd tests/dynalite && npm ci --no-audit --no-fund --silent
	touch $(DYNALITE_STAMP)

test-dynalite: $(STAMP) $(DYNALITE_STAMP)  ## the suite against dynalite, a second DynamoDB implementation (needs npm)
	DYNAMODB_TEST_SERVER=dynalite $(BIN)/python -m pytest -m "not browser"

test-fuzz: $(STAMP)  ## only the generated and hostile-input tests (schemathesis over the OpenAPI document)
	$(BIN)/python -m pytest -m fuzz

lint: $(STAMP)  ## ruff (checks and formatting), cfn-lint on the SAM and ECS templates, hadolint on the Dockerfile
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/cfn-lint template.yaml ecs.yaml
	$(BIN)/hadolint Dockerfile

compose-config:  ## validate docker-compose.yml as Compose reads it (needs Debian's docker-compose)
	@command -v docker-compose >/dev/null || \
		{ echo "docker-compose is missing: apt-get install docker-compose" >&2; exit 1; }
	docker-compose config --quiet

typecheck: $(STAMP)  ## mypy --strict over service/ and tests/
	$(BIN)/mypy

check: lint typecheck test  ## lint, types and the tests (CI also runs compose-config, test-dynalite, lambda-zip)

init-table: $(RUN_STAMP)  ## create VehicleServices at the configured endpoint (idempotent)
	$(BIN)/python -m service init-table

seed: $(RUN_STAMP)  ## load the lab's two rows, never overwriting
	$(BIN)/python -m service seed

AUDIT_ARGS ?=

audit: $(RUN_STAMP)  ## report the items the lists cannot show or address well (AUDIT_ARGS=--fix mends statuses)
	$(BIN)/python -m service audit $(AUDIT_ARGS)

LAMBDA_PYTHON ?= 3.13
LAMBDA_ARCH ?= x86_64

lambda-zip: $(STAMP)  ## build/getServiceRequest.zip for the Lambda runtime; prints its size
	$(BIN)/python scripts/lambda_zip.py --python-version $(LAMBDA_PYTHON) --arch $(LAMBDA_ARCH)

# The lab's text, from which the benchmarks take the lab's own Node.js code (dynamoService.mjs).
LAB_TEXT ?= ../shared/seeds/000_4f51074e58ba1c9f.txt

# More options of the cold-start benchmark: --runs N (9 by default), --before DIR (an earlier build's
# build/lambda), --instructions (counts under valgrind, unmoved by the machine's load). docs/performance.md's
# figures: COLD_START_ARGS="--runs 15 --before ../before/build/lambda --instructions".
COLD_START_ARGS ?=

bench-cold-start: lambda-zip  ## the Lambda's cold start and SnapStart restore beside the lab's Node.js code (LAB_TEXT)
	$(BIN)/python -m bench.cold_start --python-version $(LAMBDA_PYTHON) --lab-text $(LAB_TEXT) $(COLD_START_ARGS)

bench: $(STAMP) $(DYNALITE_STAMP)  ## docs/performance.md's tables and plots, on dynalite (about 15 minutes; needs node, npm, wrk)
	@command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
	$(BIN)/python -m bench.active_list --lab-text $(LAB_TEXT)
	$(BIN)/python -m bench.api_load
	$(BIN)/python -m bench.request_path
	$(BIN)/python -m bench.abuse

# An earlier checkout to count beside this one: REQUEST_PATH_ARGS="--before ../before".
REQUEST_PATH_ARGS ?=

bench-instructions: $(STAMP) $(DYNALITE_STAMP)  ## instructions per GET, under valgrind: the service's own work, and its process against the bare client's (about 10 minutes; apt-get install valgrind)
	$(BIN)/python -m bench.request_path --instructions $(REQUEST_PATH_ARGS)
	$(BIN)/python -m bench.cpu_ratio

# The course's later lab texts, whose Node.js code the latency benchmark runs beside the service.
COURSE_DIR ?= ../shared/seeds/course
# More options of the latency benchmark: --delay-ms 2, --slow-delay-ms 25 (0: none), --runs 200, --no-docs.
LATENCY_ARGS ?=

bench-latency: $(STAMP) $(DYNALITE_STAMP)  ## the Lambda's calls and the course's Node.js code with 2 ms each way on every DynamoDB message (about 4 minutes; needs node, npm)
	$(BIN)/python -m bench.latency --lab-text $(LAB_TEXT) \
		--form-text $(COURSE_DIR)/module-06-project-lab.md --admin-text $(COURSE_DIR)/module-07-project-lab.md \
		--history-text $(COURSE_DIR)/module-09-project-lab.md $(LATENCY_ARGS)

docs: $(STAMP)  ## rewrite the settings table of docs/operations.md from service/core/settings.py
	$(BIN)/python -m scripts.settings_doc

lock:  ## re-resolve the pinned dependency sets after editing pyproject.toml (needs uv)
	uv pip compile pyproject.toml --all-extras --universal --python-version 3.11 --generate-hashes -q \
		-o requirements/dev.txt --custom-compile-command "make lock"
	uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes -q \
		-c requirements/dev.txt -o requirements/runtime.txt --custom-compile-command "make lock"
	uv pip compile pyproject.toml --extra local --universal --python-version 3.11 --generate-hashes -q \
		-c requirements/dev.txt -o requirements/local.txt --custom-compile-command "make lock"

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) build artifacts .pytest_cache .mypy_cache .ruff_cache
