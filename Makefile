# The README's commands. Each target creates .venv on first use and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUNS ?= runs
EXTRAS ?= dev,export,mlflow

.PHONY: help demo test test-fast lint format tensorboard clean
.DEFAULT_GOAL := help

# The tested versions (constraints.txt) pin everything the project and its extras pull in.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[$(EXTRAS)]'
	touch $(STAMP)

## help: list these targets
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)

## demo: train the names RNN on the embedded data (then test its best checkpoint), guess a few surnames
demo: $(STAMP)
	$(BIN)/hello-lightning fit --config configs/names_rnn.yaml --trainer.default_root_dir $(RUNS)
	$(BIN)/hello-lightning predict --config configs/names_rnn.yaml --trainer.default_root_dir $(RUNS) \
		--ckpt_path best --data.predict_names "[Suzuki, Jackson, Nguyen, Schmidt, Chekhov, Rossi, O'Brien, Kowalski]"

# Tests run in one worker process per CPU core (pytest-xdist), each test file on one worker.
PYTEST := $(BIN)/python -m pytest -q -n auto --dist loadfile

## test: every test, the slow real-data trainings included (they skip where ../shared/data is absent); lists the 15 slowest
test: $(STAMP)
	$(PYTEST) --durations=15

## test-fast: everything but the slow trainings
test-fast: $(STAMP)
	$(PYTEST) -m 'not slow'

## lint: ruff's checks and formatting, as CI runs them
lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

## format: let ruff format the code and fix what it can
format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

## tensorboard: browse the runs in TensorBoard (RUNS=runs)
tensorboard: $(STAMP)
	$(BIN)/tensorboard --logdir $(RUNS)

## clean: delete the runs and the tool caches
clean:
	rm -rf $(RUNS) .pytest_cache .ruff_cache
