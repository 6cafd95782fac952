# Two commands set everything up on a fresh machine:
#   make run   - create the virtualenv, install, start the web app (and the bot with SHOPBOT_TOKEN)
#   make test  - create the virtualenv, install, run the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install bench bench-ocr mutation clean models browser

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

# The photo-reading models (Tesseract chi_sim kor fra msa eng) from Debian's
# tesseract-ocr-* packages, checked against pinned SHA-256 sums, into the
# virtualenv, where bot/vision finds them (README: Reading photos).
TESSDATA := $(VENV)/share/tessdata
$(TESSDATA)/.verified: bot/vision/tessdata.sha256 bot/vision/fetch_tessdata.sh $(STAMP)
	sh bot/vision/fetch_tessdata.sh $(TESSDATA)
	touch $@

install: $(STAMP) $(MO) $(TESSDATA)/.verified

run: $(STAMP) $(MO) $(TESSDATA)/.verified
	$(BIN)/shopbot run

# The import contracts first (pyproject.toml, [tool.importlinter]): a broken
# layer fails in seconds, with import-linter's own message.
test: $(STAMP) $(MO) $(TESSDATA)/.verified browser
	$(BIN)/lint-imports
	# SHOPBOT_REQUIRE_OCR: a missing OCR model fails the photo tests instead of skipping them.
	SHOPBOT_REQUIRE_OCR=1 $(BIN)/python -m pytest -q

# The translation packages the five languages need (each to and from English),
# from the Argos index: needs a network once; resumes a cut-off download.
# Offline: shopbot models install FILE.argosmodel
models: $(STAMP)
	$(BIN)/shopbot models setup

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

# The OCR benchmark compares with pytesseract, which runs Debian's tesseract
# binary: installed here only, never needed by make test or make run.
bench-ocr: $(STAMP) $(TESSDATA)/.verified
	command -v tesseract >/dev/null || (apt-get update -qq && apt-get install -y -qq tesseract-ocr)
	$(BIN)/python -m pip install --quiet "pytesseract>=0.3.10"
	$(BIN)/python benchmarks/bench_ocr.py

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
