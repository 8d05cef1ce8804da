# The README's two commands: `make` (install, then render, build and check this repository's
# own moltgen.yaml) and `make test` (the whole test suite). Nothing else needs installing.
PYTHON ?= python3
VENV ?= .venv
MOLTGEN = $(VENV)/bin/moltgen

.PHONY: all install run test test-tools bench openclaw-schemas clean

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

test: install test-tools
	$(VENV)/bin/python -m pytest

# The tests watch what the real kustomize opens and connects to with strace (tests/kustomize).
test-tools:
	@command -v strace >/dev/null || (apt-get install -y strace >/dev/null 2>&1 || \
		(apt-get update >/dev/null 2>&1 && apt-get install -y strace >/dev/null 2>&1)) || \
		echo "strace could not be installed: tests/kustomize are skipped"

# Issue 6: times render/build/check on generated fleets against checkov and kubernetes-validate
# (installed into bench/.peers-venv on first use); writes bench/RESULTS.md and bench/results.json.
# BENCH_ARGS=--quick for small sizes; see `$(VENV)/bin/python bench/run.py --help`.
bench: install
	$(VENV)/bin/python bench/run.py $(BENCH_ARGS)

# Issue 10: OpenClaw's config schema per release, from the real package (needs the npm registry).
# OPENCLAW_RELEASES="2026.9.6" adds or refreshes one; empty refreshes every shipped release.
openclaw-schemas: install
	$(VENV)/bin/python tools/openclaw_schema.py $(OPENCLAW_RELEASES)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
