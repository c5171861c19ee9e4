# Two entry points for a new user: `make run` and `make test`.
# Each creates .venv when missing and installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint venv clean bench

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# torch==2.13.0 is installed first and explicitly: on the development machines it is a CPU
# build on disk; elsewhere it is the normal build.
$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# The application on the built-in demo night; without a display (a server, CI) the same
# main job runs headless and prints what it did.
run: $(STAMP)
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] || [ "$$(uname)" = Darwin ]; then \
		$(VENV)/bin/sleepfm-studio --demo; \
	else \
		echo "no display found: running the headless demo (sleepfm demo)"; \
		$(VENV)/bin/sleepfm demo; \
	fi

# Lint first: a cheap failure before the slow suite.
lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) benchmarks/bench_recording.py

clean:
	rm -rf $(VENV) build *.egg-info
