# `make run`: set up .venv (once) and run the full benchmark with default settings.
# `make test`: same set-up, then the test suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.edgebench-installed

.PHONY: run test setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[all,cluster,test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/edgebench run $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build src/*.egg-info
