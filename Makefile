# detr_nb: the two commands of the README, and the steps they are made of.
#   make demo   create .venv, install, write + validate the synthetic shapes, train the tiny preset, evaluate it
#   make test        everything CI runs (.ci/run calls it), without the cells and tests flagged slow
#   make test-slow   only what make test leaves out: the notebooks' `#| slow` cells and the pytest tests marked slow
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.detr_nb-installed
DEMO_DIR ?= experiments

.PHONY: data install demo test test-slow nbtest-slow pytest-slow lint check-export check-clean nbtest pytest docs check-docs readme clean-docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch/torchvision first and pinned: pip takes both from this machine's disk (other versions download gigabytes);
# --no-cache-dir: what pip downloads (CUDA libraries of several GB) is not kept a second time in its cache
$(STAMP): $(BIN)/python settings.ini setup.py
	$(BIN)/python -m pip install -q --no-cache-dir --upgrade pip
	$(BIN)/pip install -q --no-cache-dir torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q --no-cache-dir -e ".[dev]"
	$(BIN)/pip check
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/detr_nb demo --out $(DEMO_DIR)

# the real datasets and reference files some pages and tests read live in data/ of the checkout (or the folder in
# DETR_NB_DATA): data/coco_real_subset, data/raccoon_voc (where to download them: the Data and own-photos pages) and
# data/reference (the official code's outputs on a seeded tiny model). A checkout that sits next to a shared/ folder
# holding them gets data/ made of links to them; without them, those cells and tests skip, saying why
data:
	@if [ -n "$$DETR_NB_DATA" ]; then echo "data: DETR_NB_DATA=$$DETR_NB_DATA ($$(ls "$$DETR_NB_DATA" 2>/dev/null | tr '\n' ' '))"; \
	elif [ -e data ]; then echo "data: data/ holds $$(ls data | tr '\n' ' ')"; \
	elif [ -d ../shared ]; then mkdir data; \
	  for d in ../shared/data/* ../shared/reference; do if [ -e "$$d" ]; then ln -s "../$$d" data/; fi; done; \
	  echo "data: linked into data/: $$(ls data | tr '\n' ' ')"; \
	else echo "data: no data/ folder and no DETR_NB_DATA: the tests that need real photos (raccoon_voc, coco_real_subset) skip, each saying where to download its data (into data/ or the folder DETR_NB_DATA names)"; fi

# long lines, `;` joins, one-line compound statements and unused imports (rules in ruff.toml)
lint: $(STAMP)
	$(BIN)/ruff check detr_nb tests tools

# the package must be exactly what nbdev_export makes of the notebooks
check-export: $(STAMP)
	@tmp=$$(mktemp -d); cp -r detr_nb $$tmp/before; \
	$(BIN)/nbdev_export; \
	if ! diff -r -q -x __pycache__ $$tmp/before detr_nb; then \
	  echo "check-export: detr_nb/ is not what nbdev_export makes of nbs/ (files above). The notebooks are the source of truth: edit nbs/, run nbdev_export and commit both."; \
	  rm -rf detr_nb; cp -r $$tmp/before detr_nb; rm -rf $$tmp; exit 1; fi; \
	rm -rf $$tmp; echo "check-export: detr_nb/ matches nbs/"

# notebooks must be stored clean (nbdev_clean makes no change)
check-clean: $(STAMP)
	@tmp=$$(mktemp -d); cp -r nbs $$tmp/before; \
	$(BIN)/nbdev_clean; \
	if ! diff -r -q -x .ipynb_checkpoints $$tmp/before nbs; then \
	  echo "check-clean: these notebooks are not clean (nbdev_clean changed them, see above); run nbdev_clean and commit."; \
	  rm -rf $$tmp; exit 1; fi; \
	rm -rf $$tmp; echo "check-clean: notebooks are clean"

# both steps below use every core: one worker process per core (notebooks longest first, pytest-xdist for the tests,
# a file's tests on one worker so that a module fixture, e.g. test_predict's training run, is built once), and torch
# one thread per worker (more only fight over the cores)
NPROC := $(shell nproc)

# notebooks and tests write scratch runs under TMPDIR (checkpoints, exports: several GB in all); each step gets a
# fresh one that is removed when it ends, pass or fail, so repeated runs never fill the disk
nbtest: $(STAMP) data
	@tmp=$$(mktemp -d -t detr_nb_nbtest.XXXXXX); TMPDIR=$$tmp $(BIN)/python tools/nbtest.py; rc=$$?; rm -rf $$tmp; exit $$rc

# tests/test_site_browser.py is left to `docs`, which runs it on the site it has just built
pytest: $(STAMP) data
	@tmp=$$(mktemp -d -t detr_nb_pytest.XXXXXX); TMPDIR=$$tmp OMP_NUM_THREADS=1 $(BIN)/pytest -q -n $(NPROC) --dist loadfile \
	  -m "not slow" --ignore tests/test_site_browser.py tests/; rc=$$?; rm -rf $$tmp; exit $$rc

# the slow half: the notebooks that have `#| slow` cells, with those cells, and the tests marked slow
nbtest-slow: $(STAMP) data
	@tmp=$$(mktemp -d -t detr_nb_nbtest.XXXXXX); TMPDIR=$$tmp $(BIN)/python tools/nbtest.py --flags slow --flagged; \
	rc=$$?; rm -rf $$tmp; exit $$rc

pytest-slow: $(STAMP) data
	@tmp=$$(mktemp -d -t detr_nb_pytest.XXXXXX); TMPDIR=$$tmp OMP_NUM_THREADS=1 $(BIN)/pytest -q -n $(NPROC) --dist loadfile -m slow \
	  tests/; rc=$$?; rm -rf $$tmp; exit $$rc

# the site into docs/ (fails on a broken page), README.md from nbs/index.ipynb, then the docs check of the result
# (truncated cells, warnings, internal phrases, stale headline figures, reference gaps, widgets without state)
docs: $(STAMP)
	$(BIN)/python tools/build_docs.py --out docs
	$(BIN)/python tools/build_docs.py --readme
	$(BIN)/python tools/check_docs.py --site docs --readme README.md
	DETR_NB_SITE=docs $(BIN)/pytest -q tests/test_site_browser.py

# only the docs check, on the site as built
check-docs: $(STAMP)
	$(BIN)/python tools/check_docs.py --site docs --readme README.md --summary

readme: $(STAMP)
	$(BIN)/python tools/build_docs.py --readme

# the three checks first (check-export rewrites detr_nb/), then the notebooks (one worker per core), the tests (one
# xdist worker per core) and the docs, one after another: each step already uses both cores, and side by side they
# once ended a notebook worker abruptly (two notebook workers, two test workers with their training subprocesses,
# the site build and Chromium at once on a 2-core, 24 GiB machine)
test: lint check-export check-clean nbtest pytest docs
	@echo "make test: all steps passed (the slow cells and tests: make test-slow)"

test-slow: nbtest-slow pytest-slow
	@echo "make test-slow: all steps passed"
