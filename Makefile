# `make run`: set up .venv (once) and run the full benchmark with default settings.
# `make test`: same set-up, then the test suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.edgebench-installed

.PHONY: run test test-main test-timing test-blas-env setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[all,cluster,test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/edgebench run $(ARGS)

# Everything: the suite, then the tests that need a quiet machine (alone, at the end), then the tests
# that read BLAS variables once more with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE flipped (set if this
# machine does not set them, unset if it does): the suite passes both ways.
test: test-main test-timing test-blas-env

test-main: $(STAMP)
	$(BIN)/python -m pytest -m "not timing" $(PYTEST_ARGS)

test-timing: $(STAMP)
	$(BIN)/python -m pytest -m timing $(PYTEST_ARGS)

BLAS_TESTS := tests/unit/test_gemm_peak.py tests/unit/test_load.py::test_doctor_system_lists_kernel_variables_and_the_cpu_limit
test-blas-env: $(STAMP)
	if [ -n "$${OPENBLAS_CORETYPE}$${OPENBLAS_L2_SIZE}" ]; then \
	  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python -m pytest $(BLAS_TESTS); \
	else \
	  OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512 $(BIN)/python -m pytest $(BLAS_TESTS); \
	fi

clean:
	rm -rf $(VENV) build src/*.egg-info
