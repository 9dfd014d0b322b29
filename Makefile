# streaming-tts-stt: build, run and test on a plain machine.
#   make run     create .venv, install (nginx too), export models if missing, start the stack on :8000
#   make stop    stop what `make run` started
#   make test    install test requirements and run the test suite
#   make export  build serving artifacts: into the compose volumes on a Docker host, else models/
#   make bench   start the stack if needed; print TTS, ASR, gateway and peer (Piper, faster-whisper) figures
#   make load    start the stack if needed; run locust headless (USERS, SPAWN_RATE, DURATION)

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
ORCHESTRATOR_PORT ?= 8083
GATEWAY_PORT ?= 8000
export MODELS_DIR TTS_PORT ASR_PORT ORCHESTRATOR_PORT GATEWAY_PORT
SERVICES := tts asr orchestrator
# On a plain machine everything runs on loopback, whatever .env says for docker compose.
LOCAL_URLS := TTS_SERVICE_URL=http://127.0.0.1:$(TTS_PORT) ASR_SERVICE_URL=http://127.0.0.1:$(ASR_PORT) \
	ORCHESTRATOR_URL=http://127.0.0.1:$(ORCHESTRATOR_PORT)
NGINX_CONF := $(abspath $(RUN_DIR))/nginx.conf

SERVICE_REQUIREMENTS := services/requirements-common.txt services/requirements-meinheld.txt \
	services/tts/requirements.txt services/asr/requirements.txt services/orchestrator/requirements.txt \
	export/requirements.txt

.PHONY: help install nginx export export-local models run stop test bench load clean

help:
	@sed -n '2,8p' Makefile | sed 's/^# //'

$(PY):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is required"'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel

# meinheld is installed after its dependencies, without its own (see requirements-meinheld.txt).
$(VENV)/.installed-services: $(PY) $(SERVICE_REQUIREMENTS)
	$(PIP) install --quiet -r export/requirements.txt -r services/orchestrator/requirements.txt
	$(PIP) install --quiet --no-deps --no-build-isolation -r services/requirements-meinheld.txt
	@touch $@

# The Vosk tests speak Korean with espeak-ng (a system package) to the Korean Vosk model.
$(VENV)/.installed-tests: $(VENV)/.installed-services tests/requirements.txt export/requirements-silero.txt
	@command -v espeak-ng >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null; \
		else echo "The tests need espeak-ng: sudo apt-get install espeak-ng"; exit 1; fi; }
	$(PIP) install --quiet -r tests/requirements.txt
	@touch $@

install: $(VENV)/.installed-services

$(VENV)/.installed-bench: $(VENV)/.installed-services clients/requirements-bench.txt
	$(PIP) install --quiet -r clients/requirements-bench.txt
	@touch $@

# The gateway is the system's nginx: installed from the Debian packages when missing (as root).
nginx:
	@command -v nginx >/dev/null || PATH="$$PATH:/usr/sbin" command -v nginx >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing nginx (Debian package)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; \
		else \
			echo "The gateway needs nginx: install it (e.g. 'sudo apt-get install nginx') and run 'make run' again."; \
			exit 1; \
		fi; }

# On a Docker host (an engine answers `docker info`) the export runs in its own container and
# fills the named volumes docker compose mounts; elsewhere it writes models/ for `make run`.
export:
	@if docker info >/dev/null 2>&1; then \
		docker compose --profile export run --rm --build export; \
	else \
		$(MAKE) --no-print-directory export-local; \
	fi

export-local: install
	$(PIP) install --quiet -r export/requirements-silero.txt
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
		$(LOCAL_URLS) $(VENV)/bin/gunicorn -c services/$(1)/gunicorn.conf.py --daemon --pid $(RUN_DIR)/$(1).pid \
			--error-logfile $(LOG_DIR)/$(1).log --access-logfile $(LOG_DIR)/$(1).access.log services.$(1).wsgi:app; \
	fi
endef

# $(call wait_healthy,name,port)
define wait_healthy
	@$(PY) -m services.common.health http://127.0.0.1:$(2)/healthz --timeout 180 \
		|| { echo "$(1) failed to start; see $(LOG_DIR)/$(1).log"; tail -n 20 $(LOG_DIR)/$(1).log; exit 1; }
endef

run: models nginx
	@mkdir -p $(RUN_DIR) $(LOG_DIR)
	$(call start_service,tts,$(TTS_PORT))
	$(call start_service,asr,$(ASR_PORT))
	$(call start_service,orchestrator,$(ORCHESTRATOR_PORT))
	@if [ -f $(RUN_DIR)/nginx.pid ] && kill -0 "$$(cat $(RUN_DIR)/nginx.pid)" 2>/dev/null; then \
		echo "gateway is already running (pid $$(cat $(RUN_DIR)/nginx.pid)) on :$(GATEWAY_PORT); 'make stop' stops it."; \
	else \
		$(LOCAL_URLS) $(PY) nginx/render.py --output $(NGINX_CONF) --run-dir $(abspath $(RUN_DIR)) \
			--log-dir $(abspath $(LOG_DIR)) && \
		PATH="$$PATH:/usr/sbin" nginx -c $(NGINX_CONF) -e $(abspath $(LOG_DIR))/gateway.error.log; \
	fi
	$(call wait_healthy,tts,$(TTS_PORT))
	$(call wait_healthy,asr,$(ASR_PORT))
	$(call wait_healthy,orchestrator,$(ORCHESTRATOR_PORT))
	$(call wait_healthy,gateway,$(GATEWAY_PORT))
	@echo "The stack is up: gateway http://127.0.0.1:$(GATEWAY_PORT) (TTS :$(TTS_PORT), ASR :$(ASR_PORT)); logs in $(LOG_DIR)/. Try:"
	@echo "  curl -X POST http://127.0.0.1:$(GATEWAY_PORT)/api/tts -H 'Content-Type: application/json' \\"
	@echo "       -d '{\"text\": \"Hello world\"}' --output speech.pcm"
	@echo "  curl -X POST 'http://127.0.0.1:$(GATEWAY_PORT)/api/stt/bytes?sr=16000&ch=1&fmt=s16le' \\"
	@echo "       -H 'Content-Type: application/octet-stream' --data-binary @speech.pcm"
	@echo "  curl -X POST 'http://127.0.0.1:$(GATEWAY_PORT)/api/echo-bytes?sr=16000&ch=1&fmt=s16le' \\"
	@echo "       -H 'Content-Type: application/octet-stream' --data-binary @speech.pcm --output echo.pcm"

stop:
	@for name in gateway:nginx $(SERVICES); do \
		label=$${name%%:*}; pidfile=$(RUN_DIR)/$${name##*:}.pid; \
		if [ -f $$pidfile ] && kill -0 "$$(cat $$pidfile)" 2>/dev/null; then \
			pid=$$(cat $$pidfile); kill -QUIT "$$pid"; \
			for _ in $$(seq 50); do kill -0 "$$pid" 2>/dev/null || break; sleep 0.2; done; \
			echo "$$label stopped (pid $$pid)."; \
		else \
			echo "$$label is not running."; \
		fi; \
		rm -f $$pidfile; \
	done

test: $(VENV)/.installed-tests models nginx
	$(PY) -m pytest tests

bench: run $(VENV)/.installed-bench
	$(PY) -m clients.bench_tts --url http://127.0.0.1:$(TTS_PORT)
	$(PY) -m clients.bench_peers --gateway-url http://127.0.0.1:$(GATEWAY_PORT)
	$(PY) -m clients.bench_streams --gateway-url http://127.0.0.1:$(GATEWAY_PORT)
	$(PY) -m clients.bench_gateway --gateway-url http://127.0.0.1:$(GATEWAY_PORT) --tts-url http://127.0.0.1:$(TTS_PORT)
	$(PY) -m clients.bench_openai --gateway-url http://127.0.0.1:$(GATEWAY_PORT)
	$(PY) -m clients.bench_tts_matrix
	$(PY) -m clients.bench_asr --tts-url http://127.0.0.1:$(TTS_PORT)
	$(PY) -m clients.bench_asr_peers --tts-url http://127.0.0.1:$(TTS_PORT)

USERS ?= 10
SPAWN_RATE ?= 2
DURATION ?= 60s
load: run $(VENV)/.installed-bench
	@mkdir -p bench/results
	$(VENV)/bin/locust -f clients/locustfile.py --headless --host http://127.0.0.1:$(GATEWAY_PORT) \
		--users $(USERS) --spawn-rate $(SPAWN_RATE) --run-time $(DURATION) --only-summary \
		--csv bench/results/load-$(USERS)u --html bench/results/load-$(USERS)u.html

clean: stop
	rm -rf $(VENV) $(RUN_DIR) $(LOG_DIR)
