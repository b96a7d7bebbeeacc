# The two commands a person needs: `make run` and `make test` (`make test-fast` while developing).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test test-fast lint bench bundle clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=77"
	$(PY) -m pip install -q -c constraints.txt -e ".[gui,dev]"
	touch $(STAMP)

# The window, rendering the demo grid, where there is a display; without one, the grid and
# demo images from every pipeline, as files.
run: setup
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then $(VENV)/bin/atelier gui --demo; \
	else echo "no display: rendering demo images instead of opening the window"; $(VENV)/bin/atelier demo; fi

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: lint
	$(VENV)/bin/pytest -q

# The core's tests with PySide6 made unimportable, less the slow end-to-end cases (marked
# `slow`); no lint. The demo models are built once into the venv and reused (their folders are
# named by version and weights). `make test` runs everything.
test-fast: setup
	ATELIER_BLOCK_QT=1 ATELIER_DEMO_DIR=$(abspath $(VENV))/demo-models \
	$(VENV)/bin/pytest -q -p no:pytest-qt -m "not slow" tests/core

bench: setup
	$(PY) -m bench.run

# A one-folder bundle for machines without Python (dist/atelier), then its check: a copy moved
# elsewhere renders the demo and opens the window. Slow (see docs/packaging.md), not in `test`.
bundle: setup
	$(PY) -m pip install -q "pyinstaller>=6.10"
	$(VENV)/bin/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller packaging/atelier.spec
	sh packaging/check_bundle.sh dist/atelier

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
