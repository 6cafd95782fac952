# Two commands set everything up on a fresh machine:
#   make run   - create the virtualenv, install, start the web app (and the bot with SHOPBOT_TOKEN)
#   make test  - create the virtualenv, install, run the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install bench clean browser

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
test: $(STAMP) $(MO) browser
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

# The web app's browser tests drive Debian's chromium (never Playwright's own
# download); fonts-noto-cjk renders Chinese and Korean. Installed when missing
# and we may (root, apt-get present); otherwise the browser tests skip with
# one line saying how to install it.
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser tests"; \
		(apt-get install -y -q -o DPkg::Lock::Timeout=600 chromium fonts-noto-cjk >/dev/null \
		 || (apt-get update -q >/dev/null && apt-get install -y -q -o DPkg::Lock::Timeout=600 chromium fonts-noto-cjk >/dev/null)) \
		|| echo "could not install chromium: the browser tests will be skipped"; \
	fi

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_glossary.py

clean:
	rm -rf $(VENV) build *.egg-info
