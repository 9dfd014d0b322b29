# streaming-tts-stt: build, run and test on a plain machine.
#   make run     create .venv, install, export models if missing, start the services
#   make stop    stop what `make run` started
#   make test    install test requirements and run the test suite
#   make export  build serving artifacts: into the compose volumes on a Docker host, else models/
#   make bench   start the services if needed and print latency / real-time factor

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Settings from .env when present (the same keys docker compose reads).
ifneq (,$(wildcard .env))
include .env
export
endif

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
RUN_DIR := run
LOG_DIR := logs
MODELS_DIR ?= models
TTS_PORT ?= 8082
export MODELS_DIR TTS_PORT

SERVICE_REQUIREMENTS := services/requirements-common.txt services/requirements-meinheld.txt \
	services/tts/requirements.txt export/requirements.txt

.PHONY: help install export export-local models run stop test bench clean

help:
	@sed -n '2,7p' Makefile | sed 's/^# //'

$(PY):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is required"'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel

# meinheld is installed after its dependencies, without its own (see requirements-meinheld.txt).
$(VENV)/.installed-services: $(PY) $(SERVICE_REQUIREMENTS)
	$(PIP) install --quiet -r export/requirements.txt
	$(PIP) install --quiet --no-deps --no-build-isolation -r services/requirements-meinheld.txt
	@touch $@

$(VENV)/.installed-tests: $(VENV)/.installed-services tests/requirements.txt
	$(PIP) install --quiet -r tests/requirements.txt
	@touch $@

install: $(VENV)/.installed-services

# On a Docker host (an engine answers `docker info`) the export runs in its own container and
# fills the named volumes docker compose mounts; elsewhere it writes models/ for `make run`.
export:
	@if docker info >/dev/null 2>&1; then \
		docker compose --profile export run --rm --build export; \
	else \
		$(MAKE) --no-print-directory export-local; \
	fi

export-local: install
	$(PY) -m export --models-dir $(MODELS_DIR)

# Export only when no voice has been exported yet.
models: install
	@ls $(MODELS_DIR)/tts/*/voice.json >/dev/null 2>&1 || $(MAKE) --no-print-directory export-local

run: models
	@mkdir -p $(RUN_DIR) $(LOG_DIR)
	@if [ -f $(RUN_DIR)/tts.pid ] && kill -0 "$$(cat $(RUN_DIR)/tts.pid)" 2>/dev/null; then \
		echo "TTS is already running (pid $$(cat $(RUN_DIR)/tts.pid)) on :$(TTS_PORT); 'make stop' stops it."; \
	else \
		$(VENV)/bin/gunicorn -c services/tts/gunicorn.conf.py --daemon --pid $(RUN_DIR)/tts.pid \
			--error-logfile $(LOG_DIR)/tts.log --access-logfile $(LOG_DIR)/tts.access.log services.tts.wsgi:app; \
	fi
	@$(PY) -m services.common.health http://127.0.0.1:$(TTS_PORT)/healthz --timeout 120 \
		|| { echo "TTS failed to start; see $(LOG_DIR)/tts.log"; tail -n 20 $(LOG_DIR)/tts.log; exit 1; }
	@echo "TTS is up on http://127.0.0.1:$(TTS_PORT) (logs: $(LOG_DIR)/tts.log). Try:"
	@echo "  curl -X POST http://127.0.0.1:$(TTS_PORT)/api/tts -H 'Content-Type: application/json' \\"
	@echo "       -d '{\"text\": \"Hello world\"}' --output speech.pcm"
	@echo "  curl -X POST http://127.0.0.1:$(TTS_PORT)/api/tts/wav -H 'Content-Type: application/json' \\"
	@echo "       -d '{\"text\": \"Hello world\"}' --output speech.wav"

stop:
	@if [ -f $(RUN_DIR)/tts.pid ] && kill -0 "$$(cat $(RUN_DIR)/tts.pid)" 2>/dev/null; then \
		pid=$$(cat $(RUN_DIR)/tts.pid); kill "$$pid"; \
		for _ in $$(seq 50); do kill -0 "$$pid" 2>/dev/null || break; sleep 0.2; done; \
		echo "TTS stopped (pid $$pid)."; \
	else \
		echo "TTS is not running."; \
	fi
	@rm -f $(RUN_DIR)/tts.pid

test: $(VENV)/.installed-tests models
	$(PY) -m pytest tests

bench: run
	$(PY) clients/bench_tts.py --url http://127.0.0.1:$(TTS_PORT)

clean: stop
	rm -rf $(VENV) $(RUN_DIR) $(LOG_DIR)
