# `make lab` sets up .venv on first use and opens the notebooks; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Extra options for `jupyter lab`, e.g. LAB_ARGS="--no-browser --port 8899 --IdentityProvider.token=abc"
LAB_ARGS ?=
# Extra options for pytest, e.g. PYTEST_ARGS="-k darts -x"
PYTEST_ARGS ?=
# Jupyter refuses to start as root without this flag (containers, CI).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: venv lab test demo bench mutants clean distclean

venv: $(STAMP)

# Runs once, and again whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[lab,test,ray]"
	touch $@

# The repository's own Jupyter configuration (jupyter/): no news prompt; nothing written to ~/.jupyter.
lab: $(STAMP)
	JUPYTER_CONFIG_DIR=$(CURDIR)/jupyter $(BIN)/jupyter lab notebooks/ $(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

# Mutation testing (mutmut 3, one worker; not in CI: hours). One module at a time, each with its
# own tests; MUTANTS_ARGS="--minutes 60" stops a module's run and keeps what it measured.
# The scores are recorded in docs/testing.md.
MUTANTS_ARGS ?=
mutants: $(STAMP)
	$(BIN)/python -m pip install -e ".[mutants]"
	@set -e; for m in methods supernet evaluate; do \
		$(BIN)/python tools/mutants.py $$m $(MUTANTS_ARGS); \
	done

demo: $(STAMP)
	$(BIN)/nasbench run random --dataset digits --epochs 1 --out runs/demo
	$(BIN)/nasbench report runs/demo

bench: $(STAMP)
	@set -e; for f in benchmarks/*.py; do \
		[ -e "$$f" ] || continue; \
		echo "== $$f"; \
		$(BIN)/python "$$f"; \
	done

clean:
	rm -rf runs/ build/ dist/ benchmarks/results/ .pytest_cache/ *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +

# Also removes the virtual environment (several GB to download again).
distclean: clean
	rm -rf $(VENV)
