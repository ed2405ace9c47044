# The two commands of the README: `make demo` and `make test`. Each builds its own virtualenv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo-output
PYTEST_ARGS ?=

.PHONY: demo test install lint clean lab screenshots bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installed marker: reinstall when the package metadata or the sidebar's sources change (the install
# builds labextension/ with jlpm, from the committed yarn.lock; see pyproject.toml).
SIDEBAR_SOURCES := labextension/package.json labextension/yarn.lock $(wildcard labextension/src/*.ts labextension/src/*/*.ts labextension/src/*/*.tsx)
# The mlflow extra: tests/test_push.py pushes to a real `mlflow server` (issue 15).
$(VENV)/.installed: pyproject.toml $(SIDEBAR_SOURCES) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,mlflow]"
	touch $@

# The seed-hook tests also cover torch.manual_seed; 2.13.0 is the CPU build these machines carry.
$(VENV)/.torch: | $(BIN)/python
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	touch $@

install: $(VENV)/.installed

# The browser tests (tests/test_sidebar.py) drive Debian's chromium: without it they fail, never skip.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq chromium

# JupyterLab on notebooks/ with the sidebar. Its store, like the kernels', is the nearest
# .jupyter_tracker/tracker.db above notebooks/ (created there on the first run) unless JUPYTER_TRACKER_DB is set.
LAB_ARGS ?=
lab: install
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# The README's pictures of the sidebar and the runs table, taken from the real UI (docs/screenshots.py).
screenshots: install $(CHROMIUM)
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	$(BIN)/python docs/screenshots.py

demo: install
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	JUPYTER_TRACKER_DB=$(abspath $(DEMO_DIR))/tracker.db \
		$(BIN)/papermill notebooks/quickstart.ipynb $(DEMO_DIR)/quickstart.ipynb --cwd notebooks --kernel python3 --progress-bar
	@echo; echo "== runs =="
	$(BIN)/jupyter-tracker --db $(DEMO_DIR)/tracker.db runs
	@echo; echo "== the two most recent runs compared =="
	$(BIN)/jupyter-tracker --db $(DEMO_DIR)/tracker.db compare \
		$$($(BIN)/jupyter-tracker --db $(DEMO_DIR)/tracker.db runs --last 2 --format csv | tail -n 2 | cut -d, -f1)
	@echo; echo "== the most recent run, re-executed from its recorded history =="
	$(BIN)/jupyter-tracker --db $(DEMO_DIR)/tracker.db rerun \
		$$($(BIN)/jupyter-tracker --db $(DEMO_DIR)/tracker.db runs --last 1 --format csv | tail -n 1 | cut -d, -f1)
	@echo; echo "== a batch: n_estimators 10 and 50, twice each, on 2 workers =="
	$(BIN)/jupyter-tracker --db $(DEMO_DIR)/tracker.db batch notebooks/quickstart.ipynb \
		--grid n_estimators=10,50 --repeat 2 --workers 2 --output-dir $(DEMO_DIR)/batch --html $(DEMO_DIR)/batch-report.html
	@echo; $(BIN)/jupyter-tracker --db $(DEMO_DIR)/tracker.db doctor

test: install $(VENV)/.torch $(CHROMIUM)
	cd labextension && $(abspath $(BIN))/jlpm install --immutable && $(abspath $(BIN))/jlpm test
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	$(BIN)/python -m pytest $(PYTEST_ARGS) tests
	$(BIN)/python -m pytest $(PYTEST_ARGS) --doctest-modules jupyter_tracker --ignore=jupyter_tracker/labextension
	$(BIN)/python -m pytest $(PYTEST_ARGS) --nbval-lax notebooks

# The benchmark suite against MLflow (bench/suite.py, issue 7). Its own virtualenv: MLflow is never a
# dependency of the project. Writes bench/results/<date>.json and .md; BENCH_ARGS="--quick" tries it out.
BENCH_VENV ?= .venv-bench
BENCH_ARGS ?=
MLFLOW_VERSION ?= 3.17.2
$(BENCH_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e . "mlflow==$(MLFLOW_VERSION)"
	$(BENCH_VENV)/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

bench: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python bench/suite.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(DEMO_DIR) .pytest_cache .hypothesis
