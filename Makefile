# Two commands on a fresh machine: `make demo` and `make test`.
# Each bootstraps .venv with torch==2.13.0 (the CPU build where one is on disk) and the project.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test eval bench compose-config clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)  ## stream the built-in source through transmitter -> proxy -> receiver; per-link latency table
	$(BIN)/semcom demo --frames 12 --report results/demo.json --out results/demo_frames

test: $(STAMP)  ## the whole test suite (CPU only, no network)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

eval: $(STAMP)  ## lrisc vs deepjscc vs digital at CBR 1/48, AWGN and Rayleigh, 0-20 dB, on scikit-image's photos
	PATH=$(CURDIR)/$(BIN):$$PATH bash benchmarks/eval_lrisc.sh

bench: $(STAMP)  ## speed: per-link latency, sustained fps, proxy throughput, codec timings -> results/bench.json
	PATH=$(CURDIR)/$(BIN):$$PATH bash benchmarks/bench_pipeline.sh

compose-config:  ## validate the compose files offline
	docker-compose -f docker-compose.yml config -q
	docker-compose -f docker-compose.yml -f docker-compose.cpu.yml config -q

clean:
	rm -rf $(VENV) results .pytest_cache
