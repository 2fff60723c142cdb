# phananh — `make run` to serve the demo, `make test` to run the tests. See README.md.
#
# With DATABASE_URL unset, a throwaway PostgreSQL + PostGIS cluster is started under .data/
# (port $PHANANH_PGPORT, default 55432). With DATABASE_URL set, that database is used as is.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000

PHANANH_PGPORT ?= 55432
export PHANANH_PGPORT

ifeq ($(origin DATABASE_URL), undefined)
LOCAL_DB := 1
export DATABASE_URL := postgresql://postgres@127.0.0.1:$(PHANANH_PGPORT)/phananh
endif

.PHONY: run test bench lint setup system system-test db dbserver serve clean-db help web

help:  ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

run: setup db  ## Set everything up, seed the demo city and serve on :$(PORT)
	$(BIN)/phananh seed-demo
	$(BIN)/phananh serve --port $(PORT)

test: system-test $(STAMP) web dbserver  ## Set up and run linters and the whole test suite
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: setup db  ## Run the benchmarks in bench/ and print their tables
	$(BIN)/python -m bench

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

dbserver:  ## Start the local cluster when DATABASE_URL is unset
ifdef LOCAL_DB
	@scripts/localdb.sh start phananh
endif

db: dbserver $(STAMP)  ## Migrate the database to the latest schema
	$(BIN)/phananh db upgrade

serve: $(STAMP)
	$(BIN)/phananh serve --port $(PORT)

clean-db:  ## Stop and delete the local cluster
	scripts/localdb.sh destroy
