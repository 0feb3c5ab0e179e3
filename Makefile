# The two commands: `make demo` and `make test` (see README.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test install bench clean system-deps

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(TEST_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/footage-gateway demo --dir .demo --port 8080

system-deps:
	bash scripts/install-system-deps.sh

test: $(TEST_STAMP) system-deps
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: $(TEST_STAMP) system-deps
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/purge.py
	$(BIN)/python bench/redact.py
	$(BIN)/python bench/sealed.py

clean:
	rm -rf $(VENV) .demo
