# Two commands matter: `make run` (set up, then run the default preset) and `make test`.
# Everything installs into .venv with the torch constraints.txt pins for development (pixengine
# itself accepts a range), so a fresh machine needs only python3.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The studio's end-to-end test drives Debian's Chromium (a test tool's own browser download
# cannot reach the network here).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Downloads from PyPI sometimes drop mid-file on the build machines' network: pip resumes a file
# up to 10 times, and a failed install is tried again (twice) before the build gives up.
retry = for attempt in 1 2 3; do $(1) && break; test $$attempt = 3 && exit 1; echo "install failed; trying again"; sleep 20; done
PIP_INSTALL := $(PIP) install --quiet --resume-retries 10

.PHONY: setup browser run test test-slow bench mutation wheel-check clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(call retry,$(PIP) install --quiet --upgrade pip)
	$(call retry,$(PIP_INSTALL) -c constraints.txt -e '.[test]')
	# The editable install leaves setuptools' egg-info in the source tree, where it would
	# shadow the installed metadata (entry points) for anything run from here.
	rm -rf pixengine.egg-info
	touch $@

# Installed once, only when missing.
browser:
	@test -x $(CHROMIUM) || ($(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

run: setup
	$(VENV)/bin/pixengine run default

test: setup browser
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
	$(call retry,$(PIP_INSTALL) -c constraints.txt -e '.[mutation]')
	rm -rf pixengine.egg-info
	touch $@

bench: setup browser
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

# What `pip install pixengine` gives a user: the wheel and sdist built, the wheel installed into a
# fresh virtual environment (torch from constraints.txt, as in development), and a preset run
# from it in an empty folder, so presets, assets and plugins must all be inside the wheel.
WHEEL_ENV ?= build/wheel-check
wheel-check: setup
	rm -rf dist $(WHEEL_ENV) && mkdir -p build
	$(PY) -m build --sdist --wheel --outdir dist . > build/wheel-check.log 2>&1 || (cat build/wheel-check.log; exit 1)
	python3 -m venv $(WHEEL_ENV)/venv
	$(call retry,$(WHEEL_ENV)/venv/bin/python -m pip install --quiet --upgrade pip)
	$(call retry,$(WHEEL_ENV)/venv/bin/python -m pip install --quiet --resume-retries 10 -c constraints.txt dist/pixengine-*.whl)
	mkdir -p $(WHEEL_ENV)/empty
	cd $(WHEEL_ENV)/empty && ../venv/bin/pixengine run repaint steps=3 width=48 height=32 progress=false output_dir=out
	test -f $(WHEEL_ENV)/empty/out/final.png
	cd $(WHEEL_ENV)/empty && ../venv/bin/pixengine presets list | grep -q '^default '
	cd $(WHEEL_ENV)/empty && ../venv/bin/pixengine plugins new wheelcheck -o scaffold > /dev/null && test -f scaffold/pyproject.toml
	cd $(WHEEL_ENV)/empty && ../venv/bin/python -c "import importlib.resources as r; assert r.files('pixengine.serve.static').joinpath('index.html').is_file()"

clean:
	rm -rf $(VENV) outputs .pytest_cache test-artifacts build dist
