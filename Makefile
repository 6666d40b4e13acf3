# Two commands on a fresh machine: `make demo` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-$(shell cat pyproject.toml | sha256sum | cut -c1-16)

.PHONY: venv demo test lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and explicitly: the CPU wheel on disk; anything unpinned would pull a CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	@rm -f $(VENV)/.stamp-*
	@touch $(STAMP)

demo: venv
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/protxai demo

test: venv
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/ruff check protxai_ray jobs tests benchmarks
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q tests

lint: venv
	$(BIN)/ruff check protxai_ray jobs tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache
