# Two commands do all set-up on a fresh clone:
#   make demo   — install into .venv and predict the bundled example model with the shipped profile
#   make test   — install into .venv (with test extras) and run the test suite
PYTHON ?= python3
VENV ?= .venv
# Where the CPU build of torch comes from. On this project's machines pip finds torch 2.13.0+cpu on
# local disk. Elsewhere PyPI's Linux torch is a CUDA build of several GB: pass
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test install bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# the CPU build of torch first: an unpinned torch could pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/green-estimate predict green_estimate/examples/simple_cnn.py \
		--samples 60000 --epochs 25 --batch-size 512 --region WORLD

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) tests/benchmarks/bench_count_transformer.py
	$(PY) tests/benchmarks/bench_predict_speed.py
	$(PY) tests/benchmarks/bench_conv_rates.py
	$(PY) tests/benchmarks/bench_accuracy.py

clean:
	rm -rf $(VENV) build *.egg-info
