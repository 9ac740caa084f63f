# LLM 101: one entry point.
#   make lab         set everything up and open the course in JupyterLab
#   make test        set everything up and run every test (what CI runs)
#   make notebooks   re-execute every notebook in place on the CPU (regenerate outputs)
#   make nb NB=notebooks/03_embeddings.ipynb   run one notebook (or all, without NB) under nbval
#
# TORCH picks the PyTorch requirement pip installs first. The default takes
# whatever build pip finds for this machine (on Linux that is the CUDA build);
# pass e.g. TORCH="torch==2.13.0" or a CPU index to choose another.

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch>=2.4
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.llm101-installed

.PHONY: setup lab test lint unit nb notebooks clean

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

lab: setup
	$(BIN)/jupyter lab notebooks/

test: setup
	$(BIN)/python tools/run_tests.py

lint: setup
	$(BIN)/ruff check .

unit: setup
	$(BIN)/python -m pytest tests

nb: setup
	$(BIN)/python tools/run_tests.py --only-notebooks $(NB)

notebooks: setup
	LLM101_DEVICE=cpu $(BIN)/python tools/regenerate_notebooks.py $(NB)

clean:
	rm -rf $(VENV) build dist *.egg-info test-artifacts
