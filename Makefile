# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test fuzz bench train audit lock clean

# Every dependency comes from the lock, each file checked against its hash; then the project
# itself (which has no hash to check), built by the locked setuptools without going online.
$(STAMP): pyproject.toml requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

## Start the bot in the console front end (no token, no network).
demo: $(STAMP)
	$(BIN)/safetybot console

## Lint, type-check and run the whole test suite (one test process per core, up to four).
test: $(STAMP)
	$(BIN)/ruff check safetybot tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -q --numprocesses auto --maxprocesses 4

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
	.audit-venv/bin/pip-audit --strict --no-deps --disable-pip -r requirements/dev.txt

## Re-pin requirements/dev.txt (what `make test` and `make demo` install) and
## requirements/runtime.txt (what the image installs) to the newest versions pyproject.toml
## allows, with the hash of every wheel and sdist of each pinned version, for Python 3.11 (and
## any newer one requires-python allows) on every platform: uv's universal mode writes markers
## for e.g. a Windows-only package, or a newer version only a newer Python can run. uv lives in a
## throw-away venv; it is not a project dependency. The runtime lock takes its versions from
## the dev lock (-c), so the image runs exactly what the tests ran, plus the build backend
## from [build-system], so that the image builds the project without an unpinned download.
LOCK := .lock-venv/bin/uv pip compile --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock"
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet "uv==0.13.8"
	.lock-venv/bin/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
	  > .lock-venv/build-system-requires.txt
	$(LOCK) --upgrade pyproject.toml --extra dev -o requirements/dev.txt
	$(LOCK) --upgrade pyproject.toml .lock-venv/build-system-requires.txt -c requirements/dev.txt \
	  -o requirements/runtime.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .audit-venv .lock-venv
