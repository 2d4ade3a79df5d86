# Two commands do all the set-up on a fresh machine (see README.md):
#   make demo   - the main job on the embedded default task (digits/mlp)
#   make test   - the test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
FASHION_MNIST ?= /usr/share/datasets/fashion-mnist

.PHONY: demo test install install-test fashion-mnist chromium

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip

install: $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -e .

install-test: $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -e '.[test]'

# Debian's package with the original Fashion-MNIST IDX files.
fashion-mnist:
	@test -f $(FASHION_MNIST)/t10k-labels-idx1-ubyte.gz || \
	  { apt-get update -q && apt-get install -y -q dataset-fashion-mnist; }

# Debian's Chromium, for the browser tests of the leaderboard page
# (tests/site_test.py drives it with Playwright; no browser is downloaded).
chromium:
	@test -x /usr/bin/chromium || \
	  { apt-get update -q && apt-get install -y -q chromium; }

demo: install
	$(VENV)/bin/python -m benchmark.run

test: install-test fashion-mnist chromium
	$(VENV)/bin/python -m pytest -n 2 --durations=15
