# Everything a newcomer needs: `make demo` (install, synthesise, run, report) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install test test-slow test-cluster demo bench docs clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py $(wildcard globalhs/*/*.c globalhs/*/*.h)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,fast]' || $(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The whole fast suite: what .ci/run calls. Exit 5 (no tests collected) is a failure here on purpose.
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

test-slow: install
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

# The batch-system tests against the local clusters (scripts/slurm-up, scripts/sge-up must be running).
test-cluster: install
	GLOBALHS_CLUSTER_TESTS=1 $(PY) -m pytest -m cluster $(PYTEST_ARGS)

demo: install
	$(BIN)/globalhs demo

bench: install
	for b in bench/*.py; do $(PY) $$b --quick || exit 1; done

docs: install
	$(PY) -m globalhs.docgen

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
