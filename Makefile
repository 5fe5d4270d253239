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

.PHONY: install test lint typecheck unit notebooks notebooks-build demo lab clean manifests browser-deps default-model default-model-retrain bench
install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev]" "$(TORCH_SPEC)"
	# only the CLIP BPE vocabulary file of open-clip-torch is used (tests of the ProxyCLIP branch); without its
	# dependencies: its torchvision requirement breaks beside our torch
	$(PY) -m pip install --quiet --no-deps "open-clip-torch==3.3.0"
	$(PY) -c "import torch, lslib; print('lslib', lslib.__version__, 'torch', torch.__version__)"
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check lslib tests bench data_manifests

typecheck: $(STAMP)
	$(VENV)/bin/mypy lslib

# Tests never touch the network: offline mode, data from the mirror (or the cache).
unit: $(STAMP) browser-deps default-model
	LSLIB_OFFLINE=1 $(PY) -m pytest tests -q

notebooks: $(STAMP) default-model
	LSLIB_OFFLINE=1 LSLIB_SMALL=1 $(PY) -m pytest --nbmake --nbmake-timeout=900 -q notebooks

# Every chapter is generated from notebooks/src/nbNN_name.py (tests/test_notebooks.py fails on drift):
# edit the source, then regenerate the .ipynb files with this.
notebooks-build: $(STAMP)
	$(PY) notebooks/src/build.py

# The real-browser test (tests/test_browser.py, part of `unit`) and the notebooks use the trained default model.
test: lint typecheck browser-deps default-model unit notebooks

# Headless Chromium (Debian package) + playwright-core (pinned in tests/browser/package-lock.json).
CHROMIUM := /usr/bin/chromium
BROWSER_DIR := tests/browser
browser-deps:
	@if [ ! -x $(CHROMIUM) ] || ! command -v node >/dev/null; then \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  PKGS="chromium"; command -v node >/dev/null || PKGS="$$PKGS nodejs npm"; \
	  echo "browser-deps: apt-get install $$PKGS"; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$PKGS; \
	fi
	@$(CHROMIUM) --version
	@$(MAKE) --no-print-directory $(BROWSER_DIR)/node_modules/.package-lock.json

$(BROWSER_DIR)/node_modules/.package-lock.json: $(BROWSER_DIR)/package.json $(BROWSER_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "browser-deps: npm is missing (apt-get install nodejs npm)"; exit 1; }
	cd $(BROWSER_DIR) && npm ci --no-audit --no-fund

# The released default checkpoint ships inside the package (lslib/resources/models): this only checks it loads.
default-model: $(STAMP)
	LSLIB_OFFLINE=1 $(PY) -c "from lslib.default_model import default_model; default_model()"

# Reproduces the released checkpoint from the real samples (LAS-mini + configs/train/tiny.yaml, ~30+ min on
# 2 cores) into ~/.cache/lslib/models/tiny-lasmini-v2; resumes when interrupted.
default-model-retrain: $(STAMP)
	LSLIB_OFFLINE=1 $(PY) -c "from lslib.default_model import default_model; default_model(retrain=True)"

demo: $(STAMP)
	$(VENV)/bin/lslib demo --out outputs/demo

# Every benchmark (bench/*.py) -> BENCHMARKS.md (about an hour on 2 cores: generalisation + augmentation train models).
bench: $(STAMP) default-model
	LSLIB_OFFLINE=1 $(PY) bench/run_all.py

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

manifests: $(STAMP)
	$(PY) data_manifests/build_manifests.py --mirror "$(LSLIB_DATA_MIRROR)"

clean:
	rm -rf $(VENV) outputs .pytest_cache .mypy_cache .ruff_cache
