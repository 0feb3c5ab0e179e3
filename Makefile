# The two commands: `make demo` and `make test` (see README.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test install bench clean system-deps js-deps screenshots

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

js-deps: system-deps
	bash scripts/install-js.sh $(VENV)/js

test: $(TEST_STAMP) system-deps js-deps
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The README's screenshots: the browser tests save each main page while they run.
screenshots: $(TEST_STAMP) system-deps js-deps
	FGW_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q -p no:cacheprovider tests/web/test_browser.py

bench: $(TEST_STAMP) system-deps
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/purge.py
	$(BIN)/python bench/redact.py
	$(BIN)/python bench/sealed.py
	$(BIN)/python bench/storage.py

clean:
	rm -rf $(VENV) .demo
