# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test fuzz bench train audit lock clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

## Start the bot in the console front end (no token, no network).
demo: $(STAMP)
	$(BIN)/safetybot console

## Lint, type-check and run the whole test suite.
test: $(STAMP)
	$(BIN)/ruff check safetybot tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

## The fuzz tests with new random examples, ten times as many (make test runs fixed ones).
fuzz: $(STAMP)
	SAFETYBOT_FUZZ=explore $(BIN)/python -m pytest -q --timeout 1800 \
	  tests/test_fuzz.py tests/test_fuzz_files.py tests/test_fuzz_signal.py tests/test_fuzz_state.py \
	  tests/test_fuzz_words.py

bench: $(STAMP)
	$(BIN)/python -m benchmarks

## Rebuild the models in safetybot/models/ from the training splits in safetybot/data/.
train: $(STAMP)
	$(BIN)/safetybot train-intents
	$(BIN)/safetybot train-check

## Check every pinned dependency against known vulnerabilities (needs osv.dev or PyPI's API).
audit:
	test -x .audit-venv/bin/pip-audit || ($(PYTHON) -m venv .audit-venv && \
	  .audit-venv/bin/python -m pip install --quiet "pip-audit>=2.7")
	.audit-venv/bin/pip-audit --strict --no-deps --disable-pip -r constraints.txt

## Re-pin constraints.txt from a fresh install of the newest allowed versions.
## (--all keeps setuptools: tests/test_packaging.py builds the wheel with it, offline.)
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -e ".[dev]"
	(echo "# Exact versions the tests pass with; regenerate with: make lock"; \
	 .lock-venv/bin/python -m pip freeze --all --exclude-editable | grep -v '^safetybot\|^pip==') > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .audit-venv
