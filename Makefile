# TrialKit: `make demo` serves the web application with demo data; `make test` runs the fast default
# test suite; `make test-all` runs every test (browser and slow ones too); `make lint` checks the code.
# Django 6 needs Python 3.12 or newer: the first of python3.13, python3.12 on PATH, pyenv's
# 3.13/3.12, then python3 if it is new enough. Override with PYTHON=/path/to/python3.
PYTHON ?= $(shell for p in python3.13 python3.12 $$HOME/.pyenv/versions/3.13*/bin/python3 \
	$$HOME/.pyenv/versions/3.12*/bin/python3 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null \
	&& { command -v $$p; break; }; done)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ADDRESS ?= 127.0.0.1:8000
# Two workers, a test module at a time (--dist loadscope): a module's world (module-scoped fixtures such as
# the blinding crawl's) is built once, on one worker. (xdist's loadgroup does nothing under pytest 9: it
# renames test ids through an attribute pytest no longer reads, so the crawl's world was built twice.)
PYTEST_ARGS ?= -n 2 --dist loadscope
# The default run in one process: two workers would each import and collect everything again (about 62
# CPU seconds against 45 for the default suite on two cores; measured with `time`).
FAST_ARGS ?= -n 0
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/trialkit
# Bytecode is cached (__pycache__) even where the environment asks Python not to: without the cache every
# run compiles the sources again and pytest rewrites every test module's asserts again, about 10 CPU
# seconds of each `make test` on this machine.
unexport PYTHONDONTWRITEBYTECODE

# Markers outside the default run (pyproject.toml's addopts): database, browser, slow, fuzz. `database` is
# set by tests/conftest.py on every test that reaches the database (pytest-django's fixtures or mark),
# `browser` on every test under tests/browser. The default run is the rest: the pure core, the CLI and
# the protocol files, under a minute of CPU. test-all runs every marker but fuzz (its own targets).
ALL_MARKERS := -m 'not fuzz'
# What the default run leaves out (fuzz has its own targets): CI runs it after `make test`.
EXTRA_MARKERS := -m '(database or browser or slow) and not fuzz'
# On PostgreSQL: every test that reaches the database, but fuzz (its own target) and slow. The slow
# tests are statistical runs (no database), SQLite's own concurrency and backup checks, and the demo
# loads; they run once, on SQLite. Tests that reach no database give the same result on either.
POSTGRES_MARKERS := -m 'database and not fuzz and not slow'

# `make messages`: the Chinese catalogue (src/trialkit/server/locale/zh_Hans) updated from the source's
# marked strings, then compiled; commit both the .po and the .mo (docs/participants.md, Languages).
.PHONY: messages venv demo test test-all test-extra test-postgres test-slow test-browser test-fuzz test-fuzz-postgres lint bench clean

$(STAMP): pyproject.toml tests/browser/package.json
	@test -n "$(PYTHON)" || { echo "TrialKit needs Python 3.12 or newer (Django 6): none found on PATH or in pyenv; install one or run make PYTHON=/path/to/python3.12" >&2; exit 2; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 12))' || { echo "$(PYTHON) is older than Python 3.12, which Django 6 needs; run make PYTHON=/path/to/python3.12" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# axe-core for the browser tests' accessibility checks (npm registry; pinned by package-lock.json)
	cd tests/browser && npm ci --no-audit --no-fund --silent
	touch $(STAMP)

venv: $(STAMP)

# The server (gunicorn) and one job worker together; Ctrl-C stops both and make exits quietly.
demo: venv
	@TRIALKIT_DEMO=1 $(PY) -m trialkit manage migrate --noinput -v0
	@TRIALKIT_DEMO=1 $(PY) -m trialkit manage load_demo
	@echo ""
	@echo "  TrialKit demo: http://$(ADDRESS)/"
	@echo "  Log in at http://$(ADDRESS)/accounts/login/ as one of the demo users (listed there):"
	@echo "    sponsor investigator coordinator assessor pharmacist monitor datamanager dsmb"
	@echo "  Password for every demo user: trialkit-demo   (Django admin: admin / trialkit-demo)"
	@echo "  dsmb, admin (and an investigator unblinding) also enter a two-factor code: the login page shows"
	@echo "  the current one (docs/audit.md). Reports and exports run in the job worker started alongside."
	@echo "  Stop both with Ctrl-C."
	@echo ""
	@TRIALKIT_DEMO=1 TRIALKIT_LOG_FORMAT=text exec $(PY) -m trialkit serve --demo --bind $(ADDRESS) --with-worker 1

# The fast default suite (no database, browser, slow or fuzz tests); prints its wall time and the CPU
# seconds (user, system) of pytest and the processes it started, from the shell's `times` (its second line).
test: venv
	@start=$$(date +%s); $(PY) -m pytest $(FAST_ARGS); rc=$$?; \
	echo "make test: $$(($$(date +%s) - start)) s wall; CPU seconds (user system) of make's shell, then of pytest and what it started:"; times; exit $$rc

# Everything but the fuzzing test (which has its own targets): browser and slow tests included. CI runs it.
test-all: venv
	@start=$$(date +%s); $(PY) -m pytest $(ALL_MARKERS) $(PYTEST_ARGS); rc=$$?; \
	echo "make test-all: $$(($$(date +%s) - start)) s wall; CPU seconds (user system) of make's shell, then of pytest and its workers:"; times; exit $$rc

# test-all less the default run: the browser and slow tests (CI runs make test, then this).
test-extra: venv
	@start=$$(date +%s); $(PY) -m pytest $(EXTRA_MARKERS) $(PYTEST_ARGS); rc=$$?; \
	echo "make test-extra: $$(($$(date +%s) - start)) s wall"; exit $$rc

# The suite on PostgreSQL, browser tests included (slow ones: see POSTGRES_MARKERS); tests that need
# PostgreSQL fail here instead of skipping.
test-postgres: venv
	DATABASE_URL=$(POSTGRES_URL) TRIALKIT_REQUIRE_POSTGRES=1 $(PY) -m pytest $(POSTGRES_MARKERS) $(PYTEST_ARGS)

test-slow: venv
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

test-browser: venv
	$(PY) -m pytest -m browser $(PYTEST_ARGS)

# ruff (lint rules and format, configured in pyproject.toml) over src and tests; mypy --strict over the
# pure core (the files listed under [tool.mypy]).
lint: venv
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

# The OpenAPI fuzzing test of the REST API (schemathesis; bounded, derandomized), on SQLite and PostgreSQL.
test-fuzz: venv
	$(PY) -m pytest -m fuzz -p no:xdist tests/server/test_server_api_fuzz.py

test-fuzz-postgres: venv
	DATABASE_URL=$(POSTGRES_URL) TRIALKIT_REQUIRE_POSTGRES=1 $(PY) -m pytest -m fuzz -p no:xdist tests/server/test_server_api_fuzz.py

# Every bench/*.py in turn (bench/screen_stream.py: streaming screening of 10k and 100k records, rates and peak memory).
bench: venv
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# Needs GNU gettext (xgettext, msgmerge, msgfmt: apt install gettext); running the site does not.
messages: venv
	cd src/trialkit/server && TRIALKIT_DEMO=1 DJANGO_SETTINGS_MODULE=trialkit.server.settings $(abspath $(PY)) -m django makemessages -l zh_Hans
	cd src/trialkit/server && TRIALKIT_DEMO=1 DJANGO_SETTINGS_MODULE=trialkit.server.settings $(abspath $(PY)) -m django compilemessages -l zh_Hans
	@echo "Fill every empty msgstr (and clear any fuzzy flag) in src/trialkit/server/locale/zh_Hans/LC_MESSAGES/django.po, then run make messages again."

clean:
	rm -rf $(VENV) data test-artifacts .pytest_cache tests/browser/node_modules
