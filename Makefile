# Two commands on a fresh machine:
#   make demo   sets up a virtual environment and runs the tour (every chapter, quick version),
#               printing each chapter's numbers and writing tour/index.html
#   make test   sets up a virtual environment with the test extras and runs the whole suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench mlp clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.demo-deps: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[cli]'
	touch $@

$(VENV)/.test-deps: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[cli,test]'
	touch $@

demo: $(VENV)/.demo-deps
	$(PY) -m deepbasic tour --quick --out tour

test: $(VENV)/.test-deps
	$(PY) -m pytest

# The digits MLP alone (the tour's second chapter).
mlp: $(VENV)/.demo-deps
	$(PY) -m deepbasic train mlp --dataset digits --epochs 40 --lr 3e-3 --batch-norm --dropout 0.1 --schedule cosine

bench: $(VENV)/.test-deps
	$(PY) benchmarks/bench_mlp.py
	$(PY) benchmarks/bench_trainer.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
