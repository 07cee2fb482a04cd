# `make lab` sets up .venv on first use and opens the notebooks; `make test` runs every test
# (Python, and the front end's with node >= 20); `make widgets` rebuilds the shipped view.js.
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

# The views' front end (widgets/) is tested and built with Node.js >= 20, nothing installed.
NODE ?= node

.PHONY: venv lab test test-widgets widgets demo bench mutants recordings check-recordings lessons check-lessons student slides clean distclean

venv: $(STAMP)

# Runs once, and again whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[lab,test,ray,grading]"
	touch $@

# The repository's own Jupyter configuration (jupyter/): no news prompt; nothing written to ~/.jupyter.
lab: $(STAMP)
	JUPYTER_CONFIG_DIR=$(CURDIR)/jupyter $(BIN)/jupyter lab notebooks/ $(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP) test-widgets
	$(BIN)/python -m pytest -n 2 --max-worker-restart=1000 --durations=15 $(PYTEST_ARGS)

# The front end's unit tests (node's own test runner) and the check that the module the wheel
# ships (nasbench/widgets/static/view.js) is the build of widgets/src.
test-widgets:
	@command -v $(NODE) >/dev/null 2>&1 || { echo "make test: Node.js >= 20 is needed to test the front end (widgets/): install it, or set NODE=/path/to/node" >&2; exit 1; }
	@$(NODE) -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' || { echo "make test: Node.js >= 20 is needed, found $$($(NODE) --version)" >&2; exit 1; }
	cd widgets && $(NODE) --test

# nasbench/widgets/static/view.js from widgets/src (state.js + view.js in one module).
widgets:
	$(NODE) widgets/build.mjs

# Mutation testing (mutmut 3, one worker; not in CI: hours). One module at a time, each with its
# own tests; MUTANTS_ARGS="--minutes 60" stops a module's run and keeps what it measured.
# The scores are recorded in docs/testing.md.
MUTANTS_ARGS ?=
mutants: $(STAMP)
	$(BIN)/python -m pip install -e ".[mutants]"
	@set -e; for m in methods supernet evaluate; do \
		$(BIN)/python tools/mutants.py $$m $(MUTANTS_ARGS); \
	done

# Notebook 10's default comparison (42 searches, the random-search baseline, the zero-cost proxies),
# and the single runs other notebooks replay (nasbench/recorded.py), recorded for them to read:
# the searches run as Ray tasks on every core (or on the cluster
# at RAY_ADDRESS). check-recordings makes it again in a temporary directory and lists what differs.
RECORDED := notebooks/recorded/10_compare
recordings: $(STAMP)
	rm -rf $(RECORDED)
	OMP_NUM_THREADS=1 $(BIN)/python -m nasbench.compare record $(RECORDED) --backend ray
	OMP_NUM_THREADS=1 $(BIN)/python -m nasbench.recorded record

check-recordings: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m nasbench.compare check $(RECORDED) --backend ray
	OMP_NUM_THREADS=1 $(BIN)/python -m nasbench.recorded check

# The numbers the notebooks state (tools/lessons.py; not in CI: every notebook in default mode).
# `make lessons` runs each with seeds 0, 1 and 2 (about 45 minutes on one core), stores its key
# numbers, ranges and time in notebooks/expected.json, and writes them into the prose, README.md
# and docs/teaching.md; `make check-lessons` runs each once (seed 0, or LESSONS_ARGS="--seeds 3")
# and reports every number against its range.
LESSONS_ARGS ?=
lessons: $(STAMP)
	$(BIN)/python tools/lessons.py record $(LESSONS_ARGS)

check-lessons: $(STAMP)
	$(BIN)/python tools/lessons.py check $(LESSONS_ARGS)

# Every wheel `pip install nasbench[lab]` needs on a laptop without internet, per OS, in
# wheelhouse/<platform>/ (docs/classroom.md): PLATFORM=linux-x86_64, windows-x86_64, macos-arm64
# or all; WHEELHOUSE_ARGS="--torch-index pypi" takes Linux's torch from PyPI (with CUDA).
PLATFORM ?= all
WHEELHOUSE_ARGS ?=
.PHONY: wheelhouse
wheelhouse: $(STAMP)
	$(BIN)/python -m pip install -e ".[wheelhouse]"
	$(BIN)/python tools/wheelhouse.py $(PLATFORM) $(WHEELHOUSE_ARGS)

# The student edition (build/student/: hand it out) and its autograder (build/autograder/: keep it),
# built from the notebooks; docs/student-edition.md. Grade handed-in notebooks offline with
# $(BIN)/python build/autograder/grade.py grade SUBMISSION... --out grades/
student: $(STAMP)
	$(BIN)/python tools/student.py build

# Reading-group decks: every notebook as a reveal.js deck that opens offline, in build/slides/
# (hand out the folder whole: the decks load lib/ next to them). Each notebook is run in smoke mode
# first, so its views show as the static figures of that run; SLIDES_ARGS=--no-execute skips the
# runs (text and code only). See docs/teaching.md, "Reading-group mode".
SLIDES_ARGS ?=
slides: $(STAMP)
	$(BIN)/python tools/slides.py --out build/slides $(SLIDES_ARGS)

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
