# `make run`: set up .venv (once) and run the full benchmark with default settings.
# `make test`: same set-up, then the test suite, tier by tier (see test: below; `make test-fast` for the unit tier).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.edgebench-installed

.PHONY: run test test-fast test-integration test-framework test-timing test-blas-env setup system-deps clean

setup: $(STAMP)

# The firmware stage's programs, from Debian (as root, or with sudo): a C compiler, the Arm
# toolchain and C library, QEMU's Arm machines. Without them that stage is a row naming the package.
SYSTEM_DEPS := gcc gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
system-deps:
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	$(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_DEPS)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[all,cluster,test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/edgebench run $(ARGS)

# The tests in four tiers, one folder each (tests/<tier>), each run once:
#   test-fast         tests/unit: in-process only (no child process, no framework: tests/unit/conftest.py
#                     makes either fail), on every core (pytest-xdist): the edit loop.
#   test-integration  tests/integration: the CLI and the pipeline on the NumPy backend, child processes.
#   test-framework    tests/framework: TensorFlow, PyTorch, JAX and their runtimes.
#   test-timing       tests/timing: needs a quiet machine (CPU burners), so alone, after the others.
# then the tests that read BLAS variables once more with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE flipped (set
# if this machine does not set them, unset if it does): the suite passes both ways.
# Under CI=true (.ci/run) every step prints its 25 slowest tests, and a test whose installed
# requirement is missing fails instead of skipping (tests/conftest.py).
PYTEST := $(BIN)/python -m pytest $(if $(filter true,$(CI)),--durations=25)

test: test-fast test-integration test-framework test-timing test-blas-env

test-fast: $(STAMP)
	$(PYTEST) -n auto tests/unit $(PYTEST_ARGS)

test-integration: $(STAMP)
	$(PYTEST) tests/integration $(PYTEST_ARGS)

test-framework: $(STAMP)
	$(PYTEST) tests/framework $(PYTEST_ARGS)

test-timing: $(STAMP)
	$(PYTEST) tests/timing $(PYTEST_ARGS)

BLAS_TESTS := tests/integration/test_gemm_peak.py tests/integration/test_doctor_system.py
test-blas-env: $(STAMP)
	if [ -n "$${OPENBLAS_CORETYPE}$${OPENBLAS_L2_SIZE}" ]; then \
	  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PYTEST) $(BLAS_TESTS); \
	else \
	  OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512 $(PYTEST) $(BLAS_TESTS); \
	fi

clean:
	rm -rf $(VENV) build src/*.egg-info
