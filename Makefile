# The README's two commands: `make demo` and `make test`. Each installs what it needs into a
# local virtualenv (.venv) first, so both work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DB ?= $(CURDIR)/data/demo.db

.PHONY: install demo test lint format bench bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	PAPERBOT_DB_PATH=$(DEMO_DB) $(BIN)/paperbot ask "how does XPO make DPO explore?"
	PAPERBOT_DB_PATH=$(DEMO_DB) $(BIN)/paperbot search "which paper segments text without punctuation?" --top-k 3

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python -m bench.bench_scifact
	$(BIN)/python -m bench.bench_latency --sizes 100000 1000000

clean:
	rm -rf $(VENV) data bench/out .pytest_cache .ruff_cache
