# Two commands matter on a fresh machine: `make run` and `make test`.
# Both create .venv when missing and (re)install the project when pyproject.toml changes.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: run test test-sitl bench install clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (found %s)" % sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

## Start the controller on the embedded SQLite database with the Shengsi scenario,
## a simulated fleet and simulated lockers.
run: install
	$(VENV)/bin/dispatch up

## Run the whole test suite (real-SITL tests skip unless ARDUPILOT_SITL is set).
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

## Run the vehicle suite against a real ArduPilot SITL binary.
test-sitl: install
	@test -n "$$ARDUPILOT_SITL" || command -v arducopter >/dev/null || { echo "Set ARDUPILOT_SITL=/path/to/arducopter" >&2; exit 2; }
	DISPATCH_VEHICLE_BACKEND=sitl $(PY) -m pytest tests/vehicle -m "sitl or not sitl" $(PYTEST_ARGS)

## Benchmarks print ratios against a baseline measured in the same run.
bench: install
	$(PY) -m pip install -q -e '.[test,bench]'
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
