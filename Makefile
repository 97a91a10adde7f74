# The two commands of the README: `make lab` and `make test`.
# Each creates .venv if missing and installs requirements only when they changed;
# run as root on Debian/Ubuntu, `make test` also installs the system packages some
# tests need (system-packages.txt), once, and `make lab` the learner's (a CJK font).
# Anyone else sees those tests skipped, and a warning where Chinese cannot be drawn.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-packages
# The oldest MindSpore of the supported range (mhsa_ms/_mindspore_version.py, requirements.txt):
# `make test` also runs the package's tests and two lessons on it, in a venv of its own that
# is created once (the stamp records it) and refreshed only when the requirements change.
OLDEST_MINDSPORE := 2.7.0
OLDEST_VENV := .venv-oldest
OLDEST_STAMP := $(OLDEST_VENV)/.installed
OLDEST_LESSONS := lessons/en/00_setup.ipynb lessons/en/04_multi_head_module.ipynb
LEARNER_PACKAGES := fonts-noto-cjk
LEARNER_STAMP := $(VENV)/.learner-packages

# The learner's language, read as the package reads it (mhsa_ms/i18n.py): MHSA_MS_LANG, else
# the locale (LANGUAGE, LC_ALL, LC_MESSAGES, LANG); zh for any Chinese one, else en. Pick the
# other with `make lab MHSA_MS_LANG=en` (or zh). `make lab` opens that edition of the lessons,
# lessons/zh or lessons/en, and JupyterLab's own menus in it.
LAB_LANGUAGE := $(if $(filter zh% ZH%,$(firstword $(subst :, ,$(or $(MHSA_MS_LANG),$(LANGUAGE),$(LC_ALL),$(LC_MESSAGES),$(LANG))))),zh,en)
LAB_LESSONS := lessons/$(LAB_LANGUAGE)
LAB_LOCALE := $(if $(filter zh,$(LAB_LANGUAGE)),zh_CN,en)
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
# The two editions of the course, lessons/zh (简体中文) and lessons/en (English), and their lessons.
EDITIONS := zh en
LESSON_NOTEBOOKS = $(foreach edition,$(EDITIONS),$(wildcard lessons/$(edition)/[0-9][0-9]_*.ipynb))

# Quiet MindSpore's C++ logs (must be set before it is imported) and keep
# IPython's cell file names stable, so nbval compares like with like.
export GLOG_v := 4
export IPYKERNEL_CELL_NAME := <IPY-INPUT>

.PHONY: lab test test-package test-lessons test-oldest outputs slides catalogs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# Installing the requirements next to MindSpore $(OLDEST_MINDSPORE) must keep it (the range, not a pin):
# the recipe checks that it did.
$(OLDEST_STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install --upgrade --quiet pip
	$(OLDEST_VENV)/bin/python -m pip install --quiet "mindspore==$(OLDEST_MINDSPORE)" "numpy<2"
	$(OLDEST_VENV)/bin/python -m pip install --quiet -r requirements.txt
	$(OLDEST_VENV)/bin/python -c "import importlib.metadata as m, sys; v = m.version('mindspore'); \
	    sys.exit(0 if v == '$(OLDEST_MINDSPORE)' else 'installing requirements.txt replaced MindSpore $(OLDEST_MINDSPORE) by ' + v)"
	touch $(OLDEST_STAMP)

$(SYSTEM_STAMP): system-packages.txt | $(BIN)/python
	@sh scripts/install-system-packages.sh system-packages.txt $(SYSTEM_STAMP)

$(LEARNER_STAMP): system-packages.txt | $(BIN)/python
	@sh scripts/install-system-packages.sh system-packages.txt $(LEARNER_STAMP) $(LEARNER_PACKAGES)

# (--allow-root where it runs as root, as in many cloud notebooks and containers)
lab: $(STAMP) $(LEARNER_STAMP)
	@mkdir -p $(dir $(LAB_SETTINGS))
	@printf '{"@jupyterlab/translation-extension:plugin": {"locale": "%s"}}\n' $(LAB_LOCALE) > $(LAB_SETTINGS)
	MHSA_MS_LANG=$(LAB_LANGUAGE) $(BIN)/jupyter lab $(LAB_LESSONS)/ $(if $(filter 0,$(shell id -u)),--allow-root)

# Lessons that train train less under MHSA_MS_FAST=1 (the one documented switch);
# the outputs nbval compares are the same either way.
test test-lessons: export MHSA_MS_FAST := 1

test: $(STAMP) $(SYSTEM_STAMP)
	$(BIN)/python -m pytest --doctest-modules mhsa_ms mhsa_tools tests \
	    --nbval lessons --nbval-sanitize-with lessons/nbval_sanitize.cfg --nbval-cell-timeout=300
	$(MAKE) --no-print-directory test-oldest

# The package's own tests (those that run MindSpore) and two lessons on the oldest supported MindSpore.
test-oldest: export MHSA_MS_FAST := 1
test-oldest: $(OLDEST_STAMP) $(SYSTEM_STAMP)
	$(OLDEST_VENV)/bin/python -m pytest --doctest-modules mhsa_ms tests/model tests/course tests/training \
	    --nbval $(OLDEST_LESSONS) --nbval-sanitize-with lessons/nbval_sanitize.cfg --nbval-cell-timeout=300

test-package: $(STAMP) $(SYSTEM_STAMP)
	$(BIN)/python -m pytest --doctest-modules mhsa_ms mhsa_tools tests

test-lessons: $(STAMP)
	$(BIN)/python -m pytest --nbval lessons --nbval-sanitize-with lessons/nbval_sanitize.cfg --nbval-cell-timeout=300

# Re-execute every lesson in place and store its outputs (what nbval compares against),
# in English where a lesson does not choose its language (mm.set_language) itself.
outputs: export MHSA_MS_LANG := en
outputs: $(STAMP)
	for nb in $(LESSON_NOTEBOOKS); do \
	    $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	        --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.record_timing=False "$$nb" || exit 1; \
	done

# One self-contained, offline HTML deck per lesson, from the cells marked with slideshow metadata
# (the first build runs `npm ci` for reveal.js, KaTeX and the Chinese web font): slides/zh/ from
# lessons/zh/ and slides/en/ from lessons/en/.
slides: $(STAMP) $(SYSTEM_STAMP)
	$(foreach edition,$(EDITIONS),$(BIN)/mhsa-ms slides --lessons lessons/$(edition) --out slides/$(edition) &&) true

# The message catalogs (docs/i18n.md): the _() and N_() messages of each package are
# extracted, merged into its Chinese catalog <package>/locale/zh_CN/LC_MESSAGES/<package>.po
# (translated by hand: a new message arrives empty, a changed one marked fuzzy) and compiled
# to the .mo beside it, which the package loads. tests/tools/test_catalogs.py fails until every message
# has a reviewed translation and the .mo files match the .po files.
CATALOG_PACKAGES := mhsa_ms mhsa_tools
catalogs: $(STAMP)
	@mkdir -p build/catalogs
	for package in $(CATALOG_PACKAGES); do \
	    $(BIN)/pybabel extract --project=mhsa-ms --add-location=file --sort-by-file --width=100 \
	        --output-file=build/catalogs/$$package.pot $$package && \
	    $(BIN)/pybabel update --domain=$$package --input-file=build/catalogs/$$package.pot \
	        --output-dir=$$package/locale --locale=zh_CN --init-missing --ignore-obsolete \
	        --ignore-pot-creation-date --width=100 && \
	    $(BIN)/pybabel compile --domain=$$package --directory=$$package/locale --statistics || exit 1; \
	done
