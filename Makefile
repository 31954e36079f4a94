# Two commands matter: `make run` (set up, then run the default preset) and `make test`.
# Everything installs into .venv with the pinned torch, so a fresh machine needs only python3.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: setup run test test-slow bench mutation clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# Pinned: these builds lie on the development machines' disk; other versions download GBs.
	$(PIP) install --quiet torch==2.14.1 torchvision==0.29.1
	$(PIP) install --quiet -e '.[test]'
	touch $@

run: setup
	$(VENV)/bin/pixengine run default

test: setup
	$(PY) -m pytest -q

test-slow: setup
	$(PY) -m pytest -q -m slow

# Mutation testing (mutmut, README "Tests and benchmarks"): a reproducible stratified sample by
# default; MUTATION_SAMPLE=all runs every mutant (days on 2 cores). Results stay in build/mutation.
MUTATION_SAMPLE ?= 200
MUTATION_SEED ?= 17
mutation: $(VENV)/.mutation-installed
	$(PY) scripts/mutation.py $(if $(filter all,$(MUTATION_SAMPLE)),--all,--sample $(MUTATION_SAMPLE)) --seed $(MUTATION_SEED)

$(VENV)/.mutation-installed: $(VENV)/.installed
	$(PIP) install --quiet -e '.[mutation]'
	touch $@

bench: setup
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) outputs .pytest_cache build/mutation
