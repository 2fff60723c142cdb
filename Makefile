# phananh — `make run` to serve the demo, `make test` to run the tests. See README.md.
#
# Two ports: PHANANH_PORT (HTTP, default 8000; PORT also works) and PHANANH_PGPORT (the local
# cluster, default 55432), e.g. `make run PHANANH_PORT=8080 PHANANH_PGPORT=55433`; and
# PHANANH_WORKERS, the server's processes (default: one per core).
# With DATABASE_URL unset, a throwaway PostgreSQL + PostGIS cluster of this checkout is used
# (scripts/localdb.sh): `make run`, `make test` and `make bench` start it if needed and stop it
# when they end; `make db` leaves it running for `phananh` commands. With DATABASE_URL set, that
# database is used as is.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

PHANANH_PORT ?= $(or $(PORT),8000)
PHANANH_PGPORT ?= 55432
CORES := $(shell nproc 2>/dev/null || echo 1)
# Worker processes of `make run` and `make serve`: one per core unless set.
PHANANH_WORKERS ?= $(CORES)
# Processes of `make test`, one per core unless set; each runs whole test modules on a
# database of its own.
PHANANH_TEST_WORKERS ?= $(CORES)
export PHANANH_PORT PHANANH_PGPORT PHANANH_WORKERS

ifeq ($(origin DATABASE_URL), undefined)
LOCAL_DB := 1
export DATABASE_URL := postgresql://postgres@127.0.0.1:$(PHANANH_PGPORT)/phananh
# Run a command with the cluster up; stop the cluster afterwards if this command started it.
WITH_DB := scripts/localdb.sh run phananh --
# The tests make their own databases, so any free port serves when PHANANH_PGPORT is taken.
WITH_TEST_DB := scripts/localdb.sh run --any-port phananh --
endif

.PHONY: run test bench lint setup system system-test db dbserver serve clean-db help web

help:  ## List the targets
	@echo "Ports: PHANANH_PORT=$(PHANANH_PORT) (HTTP; PORT also works)," \
	      "PHANANH_PGPORT=$(PHANANH_PGPORT) (the local PostgreSQL cluster)."
	@echo "Choose them per command, e.g. make run PHANANH_PORT=8080 PHANANH_PGPORT=55433"
	@echo
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

run: setup  ## Set up, seed the demo city, serve on PHANANH_PORT with PHANANH_WORKERS processes and run the notification worker
	$(WITH_DB) bash -c '$(BIN)/phananh db upgrade && $(BIN)/phananh seed-demo && \
	                    { $(BIN)/phananh notify run & worker=$$!; \
	                      trap "kill $$worker 2>/dev/null; wait $$worker" EXIT; \
	                      $(BIN)/phananh serve --workers $(PHANANH_WORKERS); }'

test: system-test $(STAMP) web  ## Set up and run linters and the whole test suite
	$(BIN)/ruff check .
	$(WITH_TEST_DB) $(BIN)/python -m pytest -n $(PHANANH_TEST_WORKERS) --dist loadfile

bench: setup  ## Run the benchmarks in bench/ and print their tables
	$(WITH_DB) bash -c '$(BIN)/phananh db upgrade && $(BIN)/python -m bench'

lint: $(STAMP)  ## ruff
	$(BIN)/ruff check .

setup: system $(STAMP) web  ## Python venv, system packages (PostGIS, Node.js), the map page

system:
	@scripts/ensure_system.sh

system-test:
	@scripts/ensure_system.sh --test

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# The web pages (web/): npm ci when the lock file changes, a Vite build when a source does.
WEB_SOURCES := $(wildcard web/*.html) web/vite.config.js web/package.json $(wildcard web/src/*)

web: web/dist/index.html  ## Build the web pages (the map at /map, GraphiQL at /graphql)

web/node_modules/.installed: web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

web/dist/index.html: web/node_modules/.installed $(WEB_SOURCES)
	cd web && npm run build

dbserver:  ## Start the local cluster when DATABASE_URL is unset, and leave it running
ifdef LOCAL_DB
	@scripts/localdb.sh start phananh
endif

db: dbserver $(STAMP)  ## Migrate the database to the latest schema (the cluster keeps running)
	$(BIN)/phananh db upgrade

serve: $(STAMP)  ## Serve the API on PHANANH_PORT with PHANANH_WORKERS processes (make db first)
	$(BIN)/phananh serve --workers $(PHANANH_WORKERS)

clean-db:  ## Stop and delete the local cluster
	scripts/localdb.sh destroy
