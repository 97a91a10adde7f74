# The two commands of the README: `make lab` and `make test`.
# Each creates .venv if missing and installs requirements only when they changed;
# `make test` run as root on Debian/Ubuntu also installs the system packages some
# tests need (system-packages.txt), once. Anyone else sees those tests skipped.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-packages

# Quiet MindSpore's C++ logs (must be set before it is imported) and keep
# IPython's cell file names stable, so nbval compares like with like.
export GLOG_v := 4
export IPYKERNEL_CELL_NAME := <IPY-INPUT>

.PHONY: lab test test-package test-lessons outputs slides

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

$(SYSTEM_STAMP): system-packages.txt | $(BIN)/python
	@sh scripts/install-system-packages.sh system-packages.txt $(SYSTEM_STAMP)

# (--allow-root where it runs as root, as in many cloud notebooks and containers)
lab: $(STAMP)
	$(BIN)/jupyter lab lessons/ $(if $(filter 0,$(shell id -u)),--allow-root)

# Lessons that train train less under MHSA_MS_FAST=1 (the one documented switch);
# the outputs nbval compares are the same either way.
test test-lessons: export MHSA_MS_FAST := 1

test: $(STAMP) $(SYSTEM_STAMP)
	$(BIN)/python -m pytest --doctest-modules mhsa_ms mhsa_tools tests \
	    --nbval lessons --nbval-sanitize-with lessons/nbval_sanitize.cfg --nbval-cell-timeout=300

test-package: $(STAMP) $(SYSTEM_STAMP)
	$(BIN)/python -m pytest --doctest-modules mhsa_ms mhsa_tools tests

test-lessons: $(STAMP)
	$(BIN)/python -m pytest --nbval lessons --nbval-sanitize-with lessons/nbval_sanitize.cfg --nbval-cell-timeout=300

# Re-execute every lesson in place and store its outputs (what nbval compares against).
outputs: $(STAMP)
	for nb in lessons/[0-9][0-9]_*.ipynb; do \
	    $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	        --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.record_timing=False "$$nb" || exit 1; \
	done

# One self-contained, offline HTML deck per lesson: slides/NN_name.html, from the cells
# marked with slideshow metadata (the first build runs `npm ci` for reveal.js and KaTeX).
slides: $(STAMP) $(SYSTEM_STAMP)
	$(BIN)/mhsa-ms slides
