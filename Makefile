# LandSegmenter notebook environment (lslib). Two commands on a fresh machine:
#   make demo   -> set up .venv, run the main job on the embedded default data
#   make test   -> set up .venv, run lint, types, unit tests and every notebook (small mode)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The CPU wheel of torch lies on this machine's disk; an unpinned torch would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

# Sample data: the mirror folder of the real EO samples (CI: ../shared/data). Unset -> origin downloads.
LSLIB_DATA_MIRROR ?= $(abspath $(wildcard ../shared/data))
export LSLIB_DATA_MIRROR
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MPLBACKEND := Agg

.PHONY: install test lint typecheck unit notebooks demo lab clean manifests
install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev]" "$(TORCH_SPEC)"
	$(PY) -c "import torch, lslib; print('lslib', lslib.__version__, 'torch', torch.__version__)"
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check lslib tests bench data_manifests

typecheck: $(STAMP)
	$(VENV)/bin/mypy lslib

# Tests never touch the network: offline mode, data from the mirror (or the cache).
unit: $(STAMP)
	LSLIB_OFFLINE=1 $(PY) -m pytest tests -q

notebooks: $(STAMP)
	LSLIB_OFFLINE=1 LSLIB_SMALL=1 $(PY) -m pytest --nbmake --nbmake-timeout=900 -q notebooks

test: lint typecheck unit notebooks

demo: $(STAMP)
	$(VENV)/bin/lslib demo --out outputs/demo

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

manifests: $(STAMP)
	$(PY) data_manifests/build_manifests.py --mirror "$(LSLIB_DATA_MIRROR)"

clean:
	rm -rf $(VENV) outputs .pytest_cache .mypy_cache .ruff_cache
