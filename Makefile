# The README's two commands: `make` (install, then render, build and check this repository's
# own moltgen.yaml) and `make test` (the whole test suite). Nothing else needs installing.
PYTHON ?= python3
VENV ?= .venv
MOLTGEN = $(VENV)/bin/moltgen
PYKUSTOMIZE = pykustomize==0.1.4

.PHONY: argocd-schemas all install system-deps run test test-fast lint bench openclaw-schemas clean

all: run

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $@

# kustomize's Go library, for builds in worker processes (moltgen/kustomize/library.py). Its
# metadata asks for Python 3.14 though it loads on 3.11, which pyproject cannot override, so it
# is installed here; without it every build runs kubectl kustomize. The stamp names the version.
$(VENV)/.$(PYKUSTOMIZE): $(VENV)/.installed
	$(VENV)/bin/python -m pip install --quiet --ignore-requires-python $(PYKUSTOMIZE)
	touch '$@'

install: $(VENV)/.installed $(VENV)/.$(PYKUSTOMIZE)

run: install
	$(MOLTGEN) render
	$(MOLTGEN) check

# Debian packages the tests need: strace, with which tests/kustomize watch what the real
# kustomize opens and connects to; nginx (the router), chromium (the seed's browser) and openssl
# (the router's certificate) for the conformance tier's browser journey. Each binary is its
# package's name; apt is asked only when one is missing.
SYSTEM_BINARIES = strace nginx chromium openssl
system-deps:
	@missing=""; for b in $(SYSTEM_BINARIES); do command -v $$b >/dev/null || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing from apt:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends$$missing; \
	fi

test: install system-deps
	$(VENV)/bin/python -m pytest

# The suite without its heavy tiers (pytest markers in pyproject.toml): no OpenClaw install or
# gateway boot, no pip install of a workflow's pinned moltgen.
test-fast: install system-deps
	$(VENV)/bin/python -m pytest -m "not conformance and not install"

# ruff and mypy, configured in pyproject.toml; .ci/run runs this before the tests.
lint: install
	$(VENV)/bin/ruff check moltgen tests tools bench
	$(VENV)/bin/mypy

# Issue 6: times render/build/check on generated fleets against checkov and kubernetes-validate
# (installed into bench/.peers-venv on first use); writes bench/RESULTS.md and bench/results.json.
# BENCH_ARGS=--quick for small sizes (CI; its scaled targets are stated in bench/gate.py); see
# `$(VENV)/bin/python bench/run.py --help`. Exits 1 when one of issue 25's targets is missed.
bench: install
	$(VENV)/bin/python bench/run.py $(BENCH_ARGS)

# Issue 10: OpenClaw's config schema per release, from the real package (needs the npm registry).
# OPENCLAW_RELEASES="2026.9.6" adds or refreshes one; empty refreshes every shipped release;
# "--new" adds the registry's stable releases not shipped yet.
openclaw-schemas: install
	$(VENV)/bin/python tools/openclaw_schema.py $(OPENCLAW_RELEASES)

# Issue 24: Argo CD's CRD schemas from the upstream CRDs (argoproj/argo-cd manifests/crds at the
# release in tools/argocd_schemas.py). ARGOCD_CRDS is a directory or files of them; the copy kept
# in tests/corpus/argo-cd is the default (after a release bump, replace it first).
ARGOCD_CRDS ?= tests/corpus/argo-cd
argocd-schemas: install
	$(VENV)/bin/python tools/argocd_schemas.py $(ARGOCD_CRDS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
