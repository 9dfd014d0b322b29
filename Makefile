# streaming-tts-stt: build, run and test on a plain machine.
#   make run     create .venv, install, export models if missing, start TTS (:8082) and ASR (:8081)
#   make stop    stop what `make run` started
#   make test    install test requirements and run the test suite
#   make export  build serving artifacts: into the compose volumes on a Docker host, else models/
#   make bench   start the services if needed; print TTS and ASR latency and real-time factor

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
ASR_PORT ?= 8081
export MODELS_DIR TTS_PORT ASR_PORT
SERVICES := tts asr

SERVICE_REQUIREMENTS := services/requirements-common.txt services/requirements-meinheld.txt \
	services/tts/requirements.txt services/asr/requirements.txt export/requirements.txt

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

# The Vosk tests speak Korean with espeak-ng (a system package) to the Korean Vosk model.
$(VENV)/.installed-tests: $(VENV)/.installed-services tests/requirements.txt
	@command -v espeak-ng >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null; \
		else echo "The tests need espeak-ng: sudo apt-get install espeak-ng"; exit 1; fi; }
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

# Export only when no voice or no ASR model has been exported yet.
models: install
	@{ ls $(MODELS_DIR)/tts/*/voice.json && ls $(MODELS_DIR)/asr/*/model.json; } >/dev/null 2>&1 \
		|| $(MAKE) --no-print-directory export-local

# $(call start_service,name,port): start services/<name> under gunicorn unless it runs already.
define start_service
	@if [ -f $(RUN_DIR)/$(1).pid ] && kill -0 "$$(cat $(RUN_DIR)/$(1).pid)" 2>/dev/null; then \
		echo "$(1) is already running (pid $$(cat $(RUN_DIR)/$(1).pid)) on :$(2); 'make stop' stops it."; \
	else \
		$(VENV)/bin/gunicorn -c services/$(1)/gunicorn.conf.py --daemon --pid $(RUN_DIR)/$(1).pid \
			--error-logfile $(LOG_DIR)/$(1).log --access-logfile $(LOG_DIR)/$(1).access.log services.$(1).wsgi:app; \
	fi
endef

# $(call wait_healthy,name,port)
define wait_healthy
	@$(PY) -m services.common.health http://127.0.0.1:$(2)/healthz --timeout 180 \
		|| { echo "$(1) failed to start; see $(LOG_DIR)/$(1).log"; tail -n 20 $(LOG_DIR)/$(1).log; exit 1; }
endef

run: models
	@mkdir -p $(RUN_DIR) $(LOG_DIR)
	$(call start_service,tts,$(TTS_PORT))
	$(call start_service,asr,$(ASR_PORT))
	$(call wait_healthy,tts,$(TTS_PORT))
	$(call wait_healthy,asr,$(ASR_PORT))
	@echo "TTS is up on http://127.0.0.1:$(TTS_PORT), ASR on http://127.0.0.1:$(ASR_PORT) (logs in $(LOG_DIR)/). Try:"
	@echo "  curl -X POST http://127.0.0.1:$(TTS_PORT)/api/tts -H 'Content-Type: application/json' \\"
	@echo "       -d '{\"text\": \"Hello world\"}' --output speech.pcm"
	@echo "  curl -X POST 'http://127.0.0.1:$(ASR_PORT)/api/stt/bytes?sr=16000&ch=1&fmt=s16le' \\"
	@echo "       -H 'Content-Type: application/octet-stream' --data-binary @speech.pcm"

stop:
	@for name in $(SERVICES); do \
		pidfile=$(RUN_DIR)/$$name.pid; \
		if [ -f $$pidfile ] && kill -0 "$$(cat $$pidfile)" 2>/dev/null; then \
			pid=$$(cat $$pidfile); kill "$$pid"; \
			for _ in $$(seq 50); do kill -0 "$$pid" 2>/dev/null || break; sleep 0.2; done; \
			echo "$$name stopped (pid $$pid)."; \
		else \
			echo "$$name is not running."; \
		fi; \
		rm -f $$pidfile; \
	done

test: $(VENV)/.installed-tests models
	$(PY) -m pytest tests

bench: run
	$(PY) -m clients.bench_tts --url http://127.0.0.1:$(TTS_PORT)
	$(PY) -m clients.bench_asr --tts-url http://127.0.0.1:$(TTS_PORT)

clean: stop
	rm -rf $(VENV) $(RUN_DIR) $(LOG_DIR)
