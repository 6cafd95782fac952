# Two commands set everything up on a fresh machine:
#   make run   - create the virtualenv, install, start the bot
#   make test  - create the virtualenv, install, run the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install bench mutation clean

# The stamp is rebuilt when pyproject.toml changes, so a pulled dependency
# change installs itself on the next make run / make test.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: the CPU build from local disk, never the CUDA one.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# The interface catalogues are compiled at install, and again whenever a
# .po file changes (the .mo files are not in git).
PO := $(wildcard bot/locales/*/LC_MESSAGES/shopbot.po)
MO := $(PO:.po=.mo)

%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -D shopbot -i $< -o $@

install: $(STAMP) $(MO)

run: $(STAMP) $(MO)
	$(BIN)/shopbot run

# The import contracts first (pyproject.toml, [tool.importlinter]): a broken
# layer fails in seconds, with import-linter's own message.
test: $(STAMP) $(MO)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_glossary.py

# Mutation score per module (not part of make test; tens of minutes): mutmut
# in copies under build/mutation/, each module against its own tests, a time
# box per module; the table goes to docs/mutation.md (README: Tests that
# catch bugs). MUTATION_ARGS: e.g. "normalize search --minutes 5".
MUTATION_ARGS ?=
mutation: $(STAMP) $(MO)
	$(BIN)/python -m pip install --quiet -e ".[mutation]"
	$(BIN)/python tests/mutation.py $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
