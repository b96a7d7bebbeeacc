# The two commands a person needs: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench bundle clean

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
