# The two commands a newcomer runs (see README.md):
#   make demo   installs everything and runs the main job against the local Pipedrive sandbox
#   make test   installs everything and runs the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
PACKAGES := pipedrive-sandbox tap-pipedrive target-cdp cdp-view pipedrive-webhooks target-pipedrive tap-cdp
# Compile every installed module to bytecode at install time (uv, and Meltano's plugin installs,
# which run uv, leave that to the first import by default). Where the environment sets
# PYTHONDONTWRITEBYTECODE (this project's CI machines do), nothing is ever cached otherwise, and
# every tap, target and Meltano start compiles singer-sdk and SQLAlchemy from source again: about
# half of an incremental job's CPU (bench/main_job.py --bytecode-cache shows the difference).
export UV_COMPILE_BYTECODE := 1

.PHONY: install demo test lint format bench clean

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv~=0.9"

$(VENV)/.installed: $(BIN)/uv requirements-dev.txt $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
	$(BIN)/uv pip install --quiet --python $(BIN)/python \
		-e ./pipedrive-sandbox -e ./tap-pipedrive -e ./target-cdp -e ./cdp-view \
		-e ./pipedrive-webhooks -e ./tap-cdp -e ./target-pipedrive \
		-r requirements-dev.txt
	$(BIN)/python -m compileall -q $(foreach p,$(PACKAGES),$(p)/$(subst -,_,$(p)))
	touch $@

install: $(VENV)/.installed

demo: install
	PATH="$(BIN):$$PATH" $(BIN)/python scripts/demo.py

# Two workers; a module, and the e2e area (every Meltano run), stay on one (conftest.py).
# Collection order (e2e first): the longest unit starts first.
test: install lint
	PATH="$(BIN):$$PATH" $(BIN)/pytest -n 2 --no-loadscope-reorder

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	PATH="$(BIN):$$PATH" $(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .meltano output transform/target transform/logs
