# LLM 101: one entry point.
#   make lab         set everything up and open the course in JupyterLab
#   make test        set everything up and run every test (what CI runs)
#   make notebooks   re-execute every notebook in place on the CPU (regenerate outputs)
#   make diagrams    re-draw the diagrams embedded in the notebooks (llm101_helpers.diagrams)
#   make nb NB=notebooks/03_embeddings.ipynb   run one notebook (or all, without NB) under nbval
#   make links REPO=owner/name   point the Colab badges, install cells and downloads at a repository
#
# TORCH picks the PyTorch requirement pip installs first. The default takes
# whatever build pip finds for this machine (on Linux that is the CUDA build);
# pass e.g. TORCH="torch==2.13.0" or a CPU index to choose another.
#
# LAB_ARGS adds JupyterLab options: make lab LAB_ARGS="--no-browser --port 8890".
# JupyterLab refuses to start as root (containers, cloud VMs) unless given
# --allow-root, so `make lab` adds it exactly when the effective user is root.

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch>=2.4
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.llm101-installed
LAB_ARGS ?=
ALLOW_ROOT = $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: setup lab test lint unit nb notebooks diagrams links clean

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

lab: setup
	@$(if $(ALLOW_ROOT),echo "make lab: running as root (uid 0); adding --allow-root to JupyterLab")
	$(BIN)/jupyter lab notebooks/ $(ALLOW_ROOT) $(LAB_ARGS)

test: setup
	$(BIN)/python -m tools.run_tests

lint: setup
	$(BIN)/ruff check .

unit: setup
	$(BIN)/python -m pytest tests

nb: setup
	$(BIN)/python -m tools.run_tests --only-notebooks $(NB)

notebooks: setup
	LLM101_DEVICE=cpu $(BIN)/python -m tools.regenerate_notebooks $(NB)

diagrams: setup
	$(BIN)/python -m tools.diagrams $(NB)

links: setup
	$(BIN)/python -m tools.links $(REPO)

clean:
	rm -rf $(VENV) build dist *.egg-info test-artifacts
