# The README's two commands: `make` (install, then render, build and check this repository's
# own moltgen.yaml) and `make test` (the whole test suite). Nothing else needs installing.
PYTHON ?= python3
VENV ?= .venv
MOLTGEN = $(VENV)/bin/moltgen

.PHONY: all install run test bench clean

all: run

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(MOLTGEN) render
	$(MOLTGEN) check

test: install
	$(VENV)/bin/python -m pytest

# Issue 6: times render/build/check on generated fleets against checkov and kubernetes-validate
# (installed into bench/.peers-venv on first use); writes bench/RESULTS.md and bench/results.json.
# BENCH_ARGS=--quick for small sizes; see `$(VENV)/bin/python bench/run.py --help`.
bench: install
	$(VENV)/bin/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
