# The suite's one interface: the README quotes these targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
# checkov's pins conflict with the project's, so it lives in a virtualenv of its own (deploy/k8s/).
TOOLS_VENV  := .venv-tools
TOOLS_REQS  := deploy/k8s/checkov-requirements.txt
TOOLS_STAMP := $(TOOLS_VENV)/.installed-$(shell cat $(TOOLS_REQS) | sha1sum | cut -c1-12)
# The standards' own checkers (AsyncAPI parser, Spectral), from tools/standards/package-lock.json.
NODE_DIR   := tools/standards
NODE_STAMP := $(NODE_DIR)/node_modules/.installed-$(shell cat $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json | sha1sum | cut -c1-12)

.PHONY: install run test lint typecheck unit integration test-sqlite openapi asyncapi bench bench-db \
        bench-messaging bench-intake bench-resources bench-notifications demo e2e clean help

help:
	@echo "make install   create .venv and install the pinned dependencies"
	@echo "make run       migrate, load the demo agency and directory, run all four services (Ctrl-C stops)"
	@echo "make test      ruff, mypy, unit and integration tests (real PostgreSQL and RabbitMQ)"
	@echo "make bench     all benchmarks (not part of make test)"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

$(TOOLS_STAMP): $(TOOLS_REQS)
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet -r $(TOOLS_REQS)
	@rm -f $(TOOLS_VENV)/.installed-*
	@touch $@

$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

install: $(STAMP) $(TOOLS_STAMP) $(NODE_STAMP)

run: install
	$(BIN)/diversion run

demo: install
	$(BIN)/diversion demo

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy shared services
	$(BIN)/mypy --strict shared $(wildcard services/*/domain)

unit: install
	$(BIN)/pytest tests/unit -q

integration: install
	$(BIN)/pytest tests/integration -q

e2e: install
	$(BIN)/pytest tests/e2e -q

# Full-size outage runs (2,000 referrals through intake -> casework -> notifications): a node of a three-node
# RabbitMQ cluster stopped mid-run, casework's PostgreSQL restarted mid-run. Smaller runs of both are in make test.
.PHONY: soak
soak: install
	$(BIN)/pytest tests/integration/outages -m soak -q -s --durations=5

test: install lint typecheck
	$(BIN)/pytest -q --durations=15

openapi: install
	$(BIN)/python -m shared.http.export_openapi docs/openapi

asyncapi: install
	$(BIN)/python -m shared.messaging.asyncapi docs/asyncapi.json

.PHONY: broker-definitions
broker-definitions: install
	$(BIN)/python -m shared.main broker definitions --out deploy/rabbitmq/definitions.json

bench: bench-db bench-messaging bench-intake bench-resources bench-notifications

bench-db: install
	$(BIN)/python bench/db_driver.py

bench-messaging: install
	$(BIN)/python bench/messaging.py

bench-intake: install
	$(BIN)/python bench/intake.py

bench-resources: install
	$(BIN)/python bench/resources.py

bench-notifications: install
	$(BIN)/python bench/notifications.py

.PHONY: bench-suite bench-floor
bench-suite: install
	$(BIN)/python bench/suite.py

# What the fixed stack costs before any of the suite's code: an empty nameko request and event, one commit.
bench-floor: install
	$(BIN)/python bench/floor.py

clean:
	rm -rf $(VENV) $(TOOLS_VENV) var .pytest_cache .mypy_cache .ruff_cache
