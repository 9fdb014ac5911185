# sei: two commands on a fresh Debian machine.
#   make run   set everything up (idempotent), then open the TUI on the built-in demo
#   make test  set everything up (idempotent), then lint and run the test suite without the
#              tests marked slow (what CI runs; a few minutes)
#   make test-slow   only the tests marked slow (training, big models, clusters: minutes more)
#   make test-all    lint, then every test
#   make test-fast   the same as make test (kept for the edit-test loop)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := run

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps
LINT_PATHS := $(wildcard sei_tui libsim tests benchmarks)
APT_PACKAGES := g++ make pkg-config libsystemc-dev tmux
# Sources whose change means the package (and its native simulator) must be rebuilt.
BUILD_INPUTS := pyproject.toml setup.py constraints.txt \
	$(wildcard libsim/*.py libsim/src/*.cpp libsim/src/*.hpp libsim/src/*.h libsim/include/*.h)

.PHONY: run test test-fast test-slow test-all setup system lint bench clean

run: setup
	$(BIN)/sei

test: setup lint
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-fast: test

test-slow: setup
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

test-all: setup lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: system $(STAMPS)/install

# Debian packages: checked every time (cheap), installed only when missing.
system:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "sei setup: installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; \
	  elif command -v sudo >/dev/null; then sudo="sudo"; \
	  else echo "sei setup: ERROR: need root or sudo to install:$$missing" >&2; exit 1; fi; \
	  $$sudo apt-get update -qq || { echo "sei setup: ERROR: apt-get update failed" >&2; exit 1; }; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing \
	    || { echo "sei setup: ERROR: apt-get install failed for:$$missing" >&2; exit 1; }; \
	fi

$(BIN)/python:
	@echo "sei setup: creating $(VENV)"
	$(PYTHON) -m venv $(VENV) || { echo "sei setup: ERROR: '$(PYTHON) -m venv' failed (is python3-venv installed?)" >&2; exit 1; }

$(STAMPS)/install: $(BUILD_INPUTS) | $(BIN)/python
	@echo "sei setup: installing the package, its test extras (lz4 included) and the native simulator"
	PIP_CONSTRAINT=$(CURDIR)/constraints.txt $(BIN)/pip install -q -e '.[test]' \
	  || { echo "sei setup: ERROR: pip install failed (see above)" >&2; exit 1; }
	@mkdir -p $(STAMPS) && touch $@

lint: setup
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf $(STAMPS) build dist *.egg-info libsim/*.so libsim/_libsim_cffi.*
