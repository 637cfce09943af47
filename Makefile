# Two commands for a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck pytest migrate demo serve bench bench-assistant bench-realtime bench-capacity bench-reports bench-queue bench-tickets clean venv

$(BIN)/pip:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/pip
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/sportello migrate
	$(BIN)/sportello demo
	@echo "Open http://$(HOST):$(PORT)/ (demo shop + widget), http://$(HOST):$(PORT)/dashboard (operators), http://$(HOST):$(PORT)/docs (API)"
	$(BIN)/sportello serve --host $(HOST) --port $(PORT)

migrate: $(VENV)/.installed
	$(BIN)/sportello migrate

demo: $(VENV)/.installed
	$(BIN)/sportello demo

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests bench

typecheck: $(VENV)/.installed
	$(BIN)/mypy

pytest: $(VENV)/.installed
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench-assistant: $(VENV)/.installed
	$(BIN)/python -m bench.assistant

bench-realtime: $(VENV)/.installed
	$(BIN)/python -m bench.realtime

bench-capacity: $(VENV)/.installed
	$(BIN)/python -m bench.capacity

bench-reports: $(VENV)/.installed
	$(BIN)/python -m bench.reports

bench-queue: $(VENV)/.installed
	$(BIN)/python -m bench.long_queue

bench-tickets: $(VENV)/.installed
	$(BIN)/python -m bench.tickets

bench: bench-assistant bench-realtime bench-capacity bench-queue bench-tickets

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
