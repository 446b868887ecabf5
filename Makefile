# The README's commands. Each target creates .venv on first use and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUNS ?= runs

.PHONY: demo test test-fast lint format tensorboard clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: train the names RNN on the embedded data, test its best checkpoint, guess a few surnames
demo: $(STAMP)
	$(BIN)/hello-lightning fit --config configs/names_rnn.yaml --trainer.default_root_dir $(RUNS)
	$(BIN)/hello-lightning test --config configs/names_rnn.yaml --trainer.default_root_dir $(RUNS) --ckpt_path best
	$(BIN)/hello-lightning predict --config configs/names_rnn.yaml --trainer.default_root_dir $(RUNS) \
		--ckpt_path best --data.predict_names "[Suzuki, Jackson, Nguyen, Schmidt, Chekhov, Rossi, O'Brien, Kowalski]"

## test: every test, the slow real-data trainings included (they skip where ../shared/data is absent)
test: $(STAMP)
	$(BIN)/python -m pytest -q

## test-fast: everything but the slow trainings
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m 'not slow'

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

tensorboard: $(STAMP)
	$(BIN)/tensorboard --logdir $(RUNS)

clean:
	rm -rf $(RUNS) .pytest_cache .ruff_cache
