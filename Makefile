# Two commands: `make demo` and `make test`. Each sets up .venv on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser demo test test-slow lint screenshots bench peers bench-peers bench-fidelity clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# Only the CPU wheel torch==2.13.0 is local; install it before anything that depends on torch.
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# MOSTLY AI's engine, a peer of the benchmark, in its own environment (bench/bench_peers.py).
# torch first (the local CPU wheel), then the engine without its torchvision/torchaudio pins.
MOSTLY := .venv-mostly
MOSTLY_STAMP := $(MOSTLY)/.installed

$(MOSTLY_STAMP): bench/peers/requirements-mostly.txt
	test -x $(MOSTLY)/bin/python || $(PY) -m venv $(MOSTLY)
	$(MOSTLY)/bin/python -m pip install -q --upgrade pip
	$(MOSTLY)/bin/python -c "import torch" 2>/dev/null || $(MOSTLY)/bin/python -m pip install -q torch==2.13.0
	$(MOSTLY)/bin/python -m pip install -q -r bench/peers/requirements-mostly.txt
	$(MOSTLY)/bin/python -m pip install -q --no-deps mostlyai-engine==2.7.3
	$(MOSTLY)/bin/python -c "from mostlyai.engine import TabularARGN"
	touch $(MOSTLY_STAMP)

peers: $(MOSTLY_STAMP)

# The whole peer benchmark in one command (bench/bench_peers.py; 59 minutes measured on two cores):
# Complete Journey and the simulator at two sizes, every gan/vae/PAR/MOSTLY job, two at a time.
# Our DP jobs use the smaller VAE/GAN network (README, "Defaults").
BENCH_PEERS_ARGS ?= --workers 2 --minutes completejourney=8,simulate-small=2,simulate-large=4 \
	--epochs completejourney=60,simulate-small=40,simulate-large=16 \
	--dp-config '{"d_model": 48, "n_layers": 4}'

bench-peers: $(STAMP) $(MOSTLY_STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m bench.bench_peers $(BENCH_PEERS_ARGS)

# The privacy-utility curve, the scale points and the shapes table (bench/bench_fidelity.py).
bench-fidelity: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m bench.bench_fidelity $(BENCH_FIDELITY_ARGS)

demo: $(STAMP)
	bash bench/demo.sh

# The app's end-to-end test drives Debian's chromium (a test tool's own browser download
# cannot work here): installed when missing and apt-get is usable; the test is skipped with
# a reason where it is not.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO="sudo"; \
	  if command -v apt-get >/dev/null 2>&1; then \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null \
	      || echo "could not install chromium: the browser test will be skipped"; \
	  fi; }

test: $(STAMP) browser
	OMP_NUM_THREADS=1 $(BIN)/pytest

test-slow: $(STAMP)
	$(BIN)/pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# The README's screenshots of Overview, Privacy, Journeys and its segment view, taken by the browser test.
screenshots: $(STAMP) browser
	JOURNEYLAB_DOCS_SHOTS=docs/screenshots OMP_NUM_THREADS=1 $(BIN)/pytest tests/e2e -k 'readme or segment'

clean:
	rm -rf $(VENV) $(MOSTLY) build *.egg-info
