# RetinaFace: install, build the Cython tools, test, demo.
#
#   make            create .venv, install requirements.txt and requirements-dev.txt, then the
#                   project itself (pip install -e .: builds rcnn/cython in place, so the .so files
#                   serve the checkout too, and installs the tools as retinaface-* commands)
#   make test       the whole test suite (what CI runs; also installs requirements-onnx.txt and
#                   requirements-ray.txt)
#   make test-fast  the test suite without the tests marked slow
#   make demo       train briefly on a generated data set on CPU and draw the detections
#   make bench      the benchmarks in bench/
#   make clean      remove build products (make distclean also removes .venv)
#
# Variables: PYTHON (interpreter that creates the venv, must be <= 3.11), VENV (its folder),
# GPU=1 (install mxnet-cu112 instead of the CPU wheel), CUDA_ARCH (e.g. sm_80, for gpu_nms).

PYTHON ?= $(shell command -v python3.11 || command -v python3 || command -v python)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.install-stamp
BUILD_STAMP := $(VENV)/.build-stamp
TEST_STAMP := $(VENV)/.test-extras-stamp
CYTHON_DIR := rcnn/cython
BUILD_INPUTS := pyproject.toml setup.py $(CYTHON_DIR)/setup.py $(wildcard $(CYTHON_DIR)/*.pyx $(CYTHON_DIR)/*.cu $(CYTHON_DIR)/*.hpp)

.PHONY: all install build test test-fast demo bench clean distclean check-python

all: build

check-python:
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if (3, 8) <= v[:2] <= (3, 11) else 1)' || { \
	  echo "error: MXNet 1.9.1 needs Python 3.8 to 3.11 (it imports only with numpy < 1.24);"; \
	  echo "       '$(PYTHON)' is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())')."; \
	  echo "       Install Python 3.11 (e.g. 'apt-get install python3.11 python3.11-venv', or 'pyenv install 3.11')"; \
	  echo "       and run: make PYTHON=python3.11"; \
	  exit 1; }

$(STAMP): requirements.txt requirements-dev.txt requirements-gpu.txt
	@$(MAKE) --no-print-directory check-python
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt -r requirements-dev.txt
ifeq ($(GPU),1)
	$(PY) -m pip uninstall -y mxnet
	$(PY) -m pip install -r requirements-gpu.txt
endif
	@touch $@

install: $(STAMP)

# The project in editable mode. --no-build-isolation: compile against the numpy of the venv;
# --no-deps: requirements.txt is installed already (and GPU=1 replaced its mxnet by mxnet-cu112,
# which pip would otherwise swap back).
$(BUILD_STAMP): $(STAMP) $(BUILD_INPUTS)
	$(PY) -m pip install --no-build-isolation --no-deps -e .
	@touch $@

build: $(BUILD_STAMP)

# the tests also cover the optional ONNX path and the Ray Data job (its tests take about a minute);
# requirements-ray.txt holds numpy < 1.24 itself, so pip resolves Ray's dependencies around it
$(TEST_STAMP): $(STAMP) requirements-onnx.txt requirements-ray.txt
	$(PY) -m pip install --no-deps -r requirements-onnx.txt
	$(PY) -m pip install -r requirements-ray.txt
	$(PY) -c 'import mxnet, ray.data, pyarrow'
	@touch $@

test: build $(TEST_STAMP)
	$(PY) -m pytest -q tests

test-fast: build $(TEST_STAMP)
	$(PY) -m pytest -q -m "not slow" tests

demo: build
	$(PY) tools/demo.py

bench: build
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf build $(CYTHON_DIR)/build $(CYTHON_DIR)/*.c $(CYTHON_DIR)/*.cpp $(CYTHON_DIR)/*.so $(CYTHON_DIR)/*.o
	rm -f $(BUILD_STAMP)
	rm -rf *.egg-info
	find . -name __pycache__ -prune -exec rm -rf {} +
	rm -rf .pytest_cache

distclean: clean
	rm -rf $(VENV)
