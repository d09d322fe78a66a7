# TrialKit: `make demo` serves the web application with demo data; `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ADDRESS ?= 127.0.0.1:8000
PYTEST_ARGS ?= -n 2
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/trialkit

.PHONY: venv demo test test-postgres test-slow bench clean

$(STAMP): pyproject.toml tests/browser/package.json
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# axe-core for the browser tests' accessibility checks (npm registry; pinned by package-lock.json)
	cd tests/browser && npm ci --no-audit --no-fund --silent
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(PY) -m trialkit manage migrate --noinput -v0
	$(PY) -m trialkit manage load_demo
	@echo ""
	@echo "  TrialKit demo: http://$(ADDRESS)/"
	@echo "  Log in at http://$(ADDRESS)/accounts/login/ as one of the demo users (listed there):"
	@echo "    sponsor investigator coordinator assessor pharmacist monitor datamanager dsmb"
	@echo "  Password for every demo user: trialkit-demo   (Django admin: admin / trialkit-demo)"
	@echo "  Stop with Ctrl-C."
	@echo ""
	$(PY) -m trialkit serve --demo --address $(ADDRESS)

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

# The same suite on PostgreSQL; tests that need PostgreSQL fail here instead of skipping.
test-postgres: venv
	DATABASE_URL=$(POSTGRES_URL) TRIALKIT_REQUIRE_POSTGRES=1 $(PY) -m pytest $(PYTEST_ARGS)

test-slow: venv
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

bench: venv
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) data test-artifacts .pytest_cache tests/browser/node_modules
