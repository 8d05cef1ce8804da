# The README's two commands: `make` (install, then render, build and check this repository's
# own moltgen.yaml) and `make test` (the whole test suite). Nothing else needs installing.
PYTHON ?= python3
VENV ?= .venv
MOLTGEN = $(VENV)/bin/moltgen

.PHONY: all install run test clean

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

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
