# Two commands matter: `make run` (set up, then run the default preset) and `make test`.
# Everything installs into .venv with the pinned torch, so a fresh machine needs only python3.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The studio's end-to-end test drives Debian's Chromium (a test tool's own browser download
# cannot reach the network here).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup browser run test test-slow bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# Pinned: these builds lie on the development machines' disk; other versions download GBs.
	$(PIP) install --quiet torch==2.14.1 torchvision==0.29.1
	$(PIP) install --quiet -e '.[test]'
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

bench: setup browser
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) outputs .pytest_cache test-artifacts
