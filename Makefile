# The two commands of the README: `make demo` and `make test`. Each builds its own virtualenv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo-output
PYTEST_ARGS ?=

.PHONY: demo test install lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installed marker: reinstall when the package metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

# The seed-hook tests also cover torch.manual_seed; 2.13.0 is the CPU build these machines carry.
$(VENV)/.torch: | $(BIN)/python
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	touch $@

install: $(VENV)/.installed

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

test: install $(VENV)/.torch
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	$(BIN)/python -m pytest $(PYTEST_ARGS) tests
	$(BIN)/python -m pytest $(PYTEST_ARGS) --nbval-lax notebooks

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .hypothesis
