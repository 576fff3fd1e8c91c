# Neurrator: `make book` runs every notebook on the demo profile and builds the book;
# `make test` runs the unit tests and the nbval regression tests. Both create .venv if needed.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# the book and its tests compute with one OpenMP/BLAS thread per process (training fixes its own count): a
# thread count changes the last bit of a float16 target, and a model trained on it drifts, so the published
# numbers are reproduced exactly on one machine only under the same setting; the two xdist workers of `make
# test` share the cores (a second thread gains nothing there: benchmarks/worker_threads.py), and OpenMP threads
# sleep instead of spinning while they wait (same results; benchmarks/omp_wait_policy.py)
export OMP_WAIT_POLICY := PASSIVE
export OMP_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export MKL_NUM_THREADS := 1

.PHONY: book test notebooks html env browser clean

book: notebooks html                                  ## the main job

notebooks: $(STAMP)                                   ## execute the chain (demo) and refresh book/*.ipynb
	$(BIN)/neurrator run --publish

html: $(STAMP)                                        ## build the HTML book from the stored notebooks
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going
	@echo "book: $(CURDIR)/_build/html/index.html"

test: $(STAMP) browser                                ## unit tests + nbval over book/*.ipynb
	$(BIN)/python -m pytest tests book --nbval-lax --nbval-current-env \
	    --sanitize-with tests/nbval_sanitize.cfg -p no:randomly -n 2 --dist loadscope --durations=30

env: $(STAMP)                                         ## create/update the virtual environment only

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or pass PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m neurrator.book.install
	touch $(STAMP)

browser:                                              ## Debian's chromium, for the book screenshot test
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  else echo "warning: chromium missing and cannot be installed here (needs root + apt-get); the screenshot test will fail"; fi; }

clean:                                                ## remove build outputs (keeps data/ and .venv/)
	rm -rf _build runs
