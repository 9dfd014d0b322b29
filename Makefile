# streaming-tts-stt: build, run and test on a plain machine.
#   make run     create .venv, install (nginx too), export models if missing, start the stack on :8000
#                (and the Wyoming servers for Home Assistant on :10200 and :10300)
#   make stop    stop what `make run` started
#   make test    install test requirements and run the test suite
#   make test-faults  break a stack of its own on purpose and prove it holds (bounded: 15 min)
#   make fuzz    start a stack of its own and fuzz the API against its description (FUZZ_SECONDS)
#   make export  build serving artifacts: into the compose volumes on a Docker host, else models/
#   make bench   start the stack if needed; print TTS, ASR, gateway, Wyoming and peer (Piper, faster-whisper) figures
#   make load    start the stack if needed; run locust headless (USERS, SPAWN_RATE, DURATION)
#   make soak    start the stack if needed; mixed traffic for DURATION (10m): memory growth, non-2xx
#   make test-docker  on a Docker host: build, export, start and test the compose stack (its own project)
#   make swarm-up REPLICAS=N / make swarm-down   the stack on Docker Swarm, N replicas of TTS and ASR
#   make test-swarm   on a Docker host: the stack on a swarm with 2 replicas, under load, updated and killed
#   make bench-swarm  the gateway's first byte with 1 and 2 replicas on the swarm stack

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
RUN_DIR := run

# Settings from .env when present (the same keys docker compose reads), with docker compose's
# precedence: the environment and `make VAR=...` over .env, .env over the defaults below. Each
# `KEY=value` line becomes `KEY ?= value` (surrounding quotes dropped) and is exported.
ifneq (,$(wildcard .env))
$(shell mkdir -p $(RUN_DIR) && sed -E -n \
	-e 's/^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=[[:space:]]*"(.*)"[[:space:]]*$$/\2 ?= \3\nexport \2/p;t' \
	-e "s/^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=[[:space:]]*'(.*)'[[:space:]]*$$/\2 ?= \3\nexport \2/p;t" \
	-e 's/^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=[[:space:]]*(.*)$$/\2 ?= \3\nexport \2/p' \
	.env > $(RUN_DIR)/dotenv.mk)
include $(RUN_DIR)/dotenv.mk
endif
LOG_DIR := logs
MODELS_DIR ?= models
TTS_PORT ?= 8082
ASR_PORT ?= 8081
ORCHESTRATOR_PORT ?= 8083
REALTIME_PORT ?= 8084
GATEWAY_PORT ?= 8000
# nginx's counters (stub_status) for the orchestrator's /metrics: on the gateway's address, never public.
GATEWAY_STATUS_PORT ?= 8079
# Where `make run`'s gateway listens: loopback; 0.0.0.0 (or an address) serves beyond this machine.
GATEWAY_HOST ?= 127.0.0.1
GATEWAY_CHECK_HOST := $(if $(filter 0.0.0.0,$(GATEWAY_HOST)),127.0.0.1,$(GATEWAY_HOST))
# The Wyoming servers (Home Assistant) listen where the gateway does: loopback unless asked.
WYOMING_HOST ?= $(GATEWAY_HOST)
WYOMING_TTS_PORT ?= 10200
WYOMING_ASR_PORT ?= 10300
WYOMING_CHECK_HOST := $(if $(filter 0.0.0.0,$(WYOMING_HOST)),127.0.0.1,$(WYOMING_HOST))
export MODELS_DIR TTS_PORT ASR_PORT ORCHESTRATOR_PORT REALTIME_PORT GATEWAY_PORT GATEWAY_STATUS_PORT WYOMING_HOST WYOMING_TTS_PORT WYOMING_ASR_PORT
SERVICES := tts asr realtime orchestrator wyoming-tts wyoming-asr
# On a plain machine everything runs on loopback, whatever .env says for docker compose.
LOCAL_URLS := TTS_SERVICE_URL=http://127.0.0.1:$(TTS_PORT) ASR_SERVICE_URL=http://127.0.0.1:$(ASR_PORT) \
	REALTIME_SERVICE_URL=http://127.0.0.1:$(REALTIME_PORT) ORCHESTRATOR_URL=http://127.0.0.1:$(ORCHESTRATOR_PORT) \
	NGINX_STATUS_URL=http://$(GATEWAY_CHECK_HOST):$(GATEWAY_STATUS_PORT)/nginx_status \
	WYOMING_TTS_URL=tcp://$(WYOMING_CHECK_HOST):$(WYOMING_TTS_PORT) WYOMING_ASR_URL=tcp://$(WYOMING_CHECK_HOST):$(WYOMING_ASR_PORT)
NGINX_CONF := $(abspath $(RUN_DIR))/nginx.conf

SERVICE_REQUIREMENTS := services/requirements-common.txt services/requirements-meinheld.txt \
	services/tts/requirements.txt services/asr/requirements.txt services/orchestrator/requirements.txt \
	services/wyoming/requirements.txt export/requirements.txt nginx/requirements.txt

.PHONY: help install nginx export export-local models run stop test test-faults fuzz bench load soak clean \
	test-docker swarm-up swarm-down test-swarm bench-swarm

help:
	@sed -n '2,16p' Makefile | sed 's/^# //'

$(PY):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is required"'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel

# meinheld is installed after its dependencies, without its own (see requirements-meinheld.txt);
# the gateway's reference page takes only Swagger UI's files from its package (nginx/requirements.txt).
$(VENV)/.installed-services: $(PY) $(SERVICE_REQUIREMENTS)
	$(PIP) install --quiet -r export/requirements.txt -r services/orchestrator/requirements.txt \
		-r services/wyoming/requirements.txt
	$(PIP) install --quiet --no-deps --no-build-isolation -r services/requirements-meinheld.txt
	$(PIP) install --quiet --no-deps -r nginx/requirements.txt
	@touch $@

# The Vosk tests speak Korean with espeak-ng (a system package) to the Korean Vosk model; the
# Kubernetes manifests are rendered with kubectl (Debian's kubernetes-client) when there is none.
$(VENV)/.installed-tests: $(VENV)/.installed-services tests/requirements.txt export/requirements-silero.txt
	@command -v espeak-ng >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null; \
		else echo "The tests need espeak-ng: sudo apt-get install espeak-ng"; exit 1; fi; }
	@command -v kubectl >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq kubernetes-client >/dev/null; \
		else echo "The tests need kubectl: sudo apt-get install kubernetes-client"; exit 1; fi; }
	@# The web page is tested in a real browser: Debian's Chromium and its WebDriver.
	@{ command -v chromium && command -v chromedriver; } >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
		else echo "The tests need Chromium: sudo apt-get install chromium chromium-driver"; exit 1; fi; }
	$(PIP) install --quiet -r tests/requirements.txt
	@touch $@

install: $(VENV)/.installed-services

$(VENV)/.installed-bench: $(VENV)/.installed-services bench/requirements-bench.txt
	$(PIP) install --quiet -r bench/requirements-bench.txt
	@touch $@

# The gateway is the system's nginx: installed from the Debian packages when missing (as root).
# The gateway is Debian's nginx with its JavaScript module (njs: see nginx/response_end.js).
nginx:
	@{ command -v nginx || PATH="$$PATH:/usr/sbin" command -v nginx; } >/dev/null \
		&& $(PYTHON) -c 'import sys; sys.path[:0] = ["nginx"]; import render; render.js_module()' 2>/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing nginx and its JavaScript module (Debian packages)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx libnginx-mod-http-js >/dev/null; \
		else \
			echo "The gateway needs nginx and its JavaScript module: install them (e.g. 'sudo apt-get install nginx libnginx-mod-http-js') and run 'make run' again."; \
			exit 1; \
		fi; }

# The PyTorch CPU index when this machine reaches it, else empty: the export image then takes
# PyPI's torch (larger) at once instead of retrying the index for minutes.
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
TORCH_INDEX_URL ?= $(shell $(PYTHON) -c "import urllib.request; urllib.request.urlopen('$(TORCH_CPU_INDEX)/', timeout=5)" \
	>/dev/null 2>&1 && echo $(TORCH_CPU_INDEX))

# On a Docker host (an engine answers `docker info`) the export runs in its own container and
# fills the named volumes docker compose mounts (`docker compose up` also runs it first);
# elsewhere it writes models/ for `make run`.
export:
	@if docker info >/dev/null 2>&1; then \
		TORCH_INDEX_URL=$(TORCH_INDEX_URL) docker compose run --rm --build export; \
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

# $(call start_service,name,port,app): start services/<name> under gunicorn unless it runs already;
# app is its entry point (services.<name>.wsgi:app, or an ASGI app such as services.realtime.asgi:app).
# A daemon's stderr goes nowhere: the service writes its logs to LOG_DIR (services/common/logs.py).
define start_service
	@if [ -f $(RUN_DIR)/$(1).pid ] && kill -0 "$$(cat $(RUN_DIR)/$(1).pid)" 2>/dev/null; then \
		echo "$(1) is already running (pid $$(cat $(RUN_DIR)/$(1).pid)) on :$(2); 'make stop' stops it."; \
	else \
		LOG_DIR=$(abspath $(LOG_DIR)) $(LOCAL_URLS) $(VENV)/bin/gunicorn -c services/$(1)/gunicorn.conf.py \
			--daemon --pid $(RUN_DIR)/$(1).pid $(3); \
	fi
endef

# $(call start_wyoming,tts|asr): a Wyoming server in the background, unless it runs already. Its
# pid file is written at once, so that the wait below stops as soon as the process is gone (the
# server writes the file again, and removes it as it exits); it logs to LOG_DIR itself.
define start_wyoming
	@if [ -f $(RUN_DIR)/wyoming-$(1).pid ] && kill -0 "$$(cat $(RUN_DIR)/wyoming-$(1).pid)" 2>/dev/null; then \
		echo "wyoming-$(1) is already running (pid $$(cat $(RUN_DIR)/wyoming-$(1).pid)); 'make stop' stops it."; \
	else \
		LOG_DIR=$(abspath $(LOG_DIR)) $(LOCAL_URLS) setsid $(PY) -m services.wyoming $(1) \
			--pid-file $(abspath $(RUN_DIR))/wyoming-$(1).pid </dev/null >/dev/null 2>&1 & \
		echo $$! > $(RUN_DIR)/wyoming-$(1).pid; \
	fi
endef

# $(call wait_wyoming,tts|asr,port)
define wait_wyoming
	@$(PY) -m services.wyoming.probe tcp://$(WYOMING_CHECK_HOST):$(2) --timeout 180 \
		--pid-file $(RUN_DIR)/wyoming-$(1).pid >/dev/null \
		|| { echo "wyoming-$(1) failed to start; see $(LOG_DIR)/wyoming-$(1).log"; tail -n 20 $(LOG_DIR)/wyoming-$(1).log; exit 1; }
endef

# $(call wait_healthy,name,port)
define wait_healthy
	@$(PY) -m services.common.health http://127.0.0.1:$(2)/healthz --timeout 180 \
		|| { echo "$(1) failed to start; see $(LOG_DIR)/$(1).log"; tail -n 20 $(LOG_DIR)/$(1).log; exit 1; }
endef

run: models nginx
	@mkdir -p $(RUN_DIR) $(LOG_DIR)
	$(call start_service,tts,$(TTS_PORT),services.tts.wsgi:app)
	$(call start_service,asr,$(ASR_PORT),services.asr.wsgi:app)
	$(call start_service,realtime,$(REALTIME_PORT),services.realtime.asgi:app)
	$(call start_service,orchestrator,$(ORCHESTRATOR_PORT),services.orchestrator.wsgi:app)
	$(call start_wyoming,tts)
	$(call start_wyoming,asr)
	@if [ -f $(RUN_DIR)/nginx.pid ] && kill -0 "$$(cat $(RUN_DIR)/nginx.pid)" 2>/dev/null; then \
		echo "gateway is already running (pid $$(cat $(RUN_DIR)/nginx.pid)) on :$(GATEWAY_PORT); 'make stop' stops it."; \
	else \
		$(LOCAL_URLS) $(PY) nginx/render.py --output $(NGINX_CONF) --listen $(GATEWAY_HOST) \
			--run-dir $(abspath $(RUN_DIR)) --log-dir $(abspath $(LOG_DIR)) && \
		PATH="$$PATH:/usr/sbin" nginx -c $(NGINX_CONF) -e $(abspath $(LOG_DIR))/gateway.error.log; \
	fi
	$(call wait_healthy,tts,$(TTS_PORT))
	$(call wait_healthy,asr,$(ASR_PORT))
	$(call wait_healthy,realtime,$(REALTIME_PORT))
	$(call wait_healthy,orchestrator,$(ORCHESTRATOR_PORT))
	$(call wait_wyoming,tts,$(WYOMING_TTS_PORT))
	$(call wait_wyoming,asr,$(WYOMING_ASR_PORT))
	@$(PY) -m services.common.health http://$(GATEWAY_CHECK_HOST):$(GATEWAY_PORT)/healthz --timeout 60 \
		|| { echo "gateway failed to start; see $(LOG_DIR)/gateway.error.log"; exit 1; }
	@echo "The stack is up: gateway http://$(GATEWAY_CHECK_HOST):$(GATEWAY_PORT) (TTS :$(TTS_PORT), ASR :$(ASR_PORT), live ASR ws://$(GATEWAY_CHECK_HOST):$(GATEWAY_PORT)/api/stt/ws); logs in $(LOG_DIR)/. Try:"
	@echo "  curl -X POST http://127.0.0.1:$(GATEWAY_PORT)/api/tts -H 'Content-Type: application/json' \\"
	@echo "       -d '{\"text\": \"Hello world\"}' --output speech.pcm"
	@echo "  curl -X POST 'http://127.0.0.1:$(GATEWAY_PORT)/api/stt/bytes?sr=16000&ch=1&fmt=s16le' \\"
	@echo "       -H 'Content-Type: application/octet-stream' --data-binary @speech.pcm"
	@echo "  curl -X POST 'http://127.0.0.1:$(GATEWAY_PORT)/api/echo-bytes?sr=16000&ch=1&fmt=s16le' \\"
	@echo "       -H 'Content-Type: application/octet-stream' --data-binary @speech.pcm --output echo.pcm"
	@echo "Try it in a browser: http://$(GATEWAY_CHECK_HOST):$(GATEWAY_PORT)/"
	@echo "The API's reference: http://$(GATEWAY_CHECK_HOST):$(GATEWAY_PORT)/docs/ (its description: /openapi.json)"
	@echo "Home Assistant (Wyoming Protocol): TTS on $(WYOMING_CHECK_HOST):$(WYOMING_TTS_PORT), ASR on $(WYOMING_CHECK_HOST):$(WYOMING_ASR_PORT)"

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

# The fault suite: a stack of its own on loopback, broken on purpose (workers killed mid-stream,
# services stopped and started, slowloris, abandoned streams, overload, bad input everywhere).
test-faults: $(VENV)/.installed-tests models nginx
	TEST_FAULTS=1 timeout 900 $(PY) -m pytest -rA tests/faults

# Schemathesis against a stack of its own on free loopback ports, for FUZZ_SECONDS (300): no 5xx,
# no answer outside docs/openapi.json, no hang, at least FUZZ_MIN_REQUESTS (2000) requests.
fuzz: $(VENV)/.installed-tests models nginx
	$(PY) -m tests.fuzz.run

# The end-to-end tests against a compose stack of the tests' own (project, ports, image tag,
# volumes), with its monitoring profile (Prometheus checked first, on the fresh stack), then what
# only Docker has (users, health, logs, restart, down/up with Compose 1.29, removal). Without a
# Docker engine every test is reported skipped, with the reason.
test-docker: $(VENV)/.installed-tests
	@command -v docker-compose >/dev/null || ! docker info >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || { \
		echo "installing Compose 1.29 (Debian's docker-compose) to test the original command"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }
	TEST_STACK=compose TORCH_INDEX_URL=$(TORCH_INDEX_URL) $(PY) -m pytest -rs tests/test_monitoring.py \
		tests/test_gateway.py tests/test_openai_api.py \
		tests/test_realtime.py tests/test_web_page.py tests/test_deep_health.py \
		tests/test_openapi.py::test_the_gateway_serves_the_description_and_a_reference_page_of_its_own \
		tests/deploy/test_compose.py

# Docker Swarm: the same images and compose file, with deploy/swarm/docker-stack.yml, as the stack
# $(STACK). This engine must be a swarm manager ('docker swarm init' makes a one-node swarm).
STACK ?= speech
REPLICAS ?= 2
SWARM_FILES := -c docker-compose.yml -c deploy/swarm/docker-stack.yml
swarm-up:
	@[ "$$(docker info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null)" = true ] || { \
		echo "This Docker engine is not a swarm manager: 'docker swarm init' makes it a one-node swarm."; exit 1; }
	TORCH_INDEX_URL=$(TORCH_INDEX_URL) docker compose build
	REPLICAS=$(REPLICAS) docker stack deploy --detach=false --resolve-image $(if $(IMAGE_REPOSITORY),always,never) \
		$(SWARM_FILES) $(STACK)
	@$(PYTHON) -m services.common.health http://127.0.0.1:$(GATEWAY_PORT)/healthz --timeout 300
	@echo "The stack $(STACK) is up on the swarm: gateway on port $(GATEWAY_PORT) of every node, $(REPLICAS) replicas of TTS and ASR."

# Swarm leaves the exited containers of the export job behind; removed too, so they hold no volume.
swarm-down:
	docker stack rm $(STACK)
	@for _ in $$(seq 120); do [ -z "$$(docker ps -q --filter label=com.docker.stack.namespace=$(STACK))" ] && break; sleep 1; done
	@docker ps -aq --filter label=com.docker.stack.namespace=$(STACK) | xargs -r docker rm -f >/dev/null
	@echo "The stack $(STACK) is removed; its model volumes stay for the next swarm-up (docker volume ls)."

test-swarm: $(VENV)/.installed-tests
	TEST_STACK=swarm TORCH_INDEX_URL=$(TORCH_INDEX_URL) $(PY) -m pytest -rsP tests/deploy/test_swarm.py

bench-swarm: $(VENV)/.installed-bench
	$(PY) -m bench.bench_swarm

bench: run $(VENV)/.installed-bench
	$(PY) -m bench.bench_tts --url http://127.0.0.1:$(TTS_PORT)
	$(PY) -m bench.bench_peers --gateway-url http://127.0.0.1:$(GATEWAY_PORT)
	$(PY) -m bench.bench_streams --gateway-url http://127.0.0.1:$(GATEWAY_PORT)
	$(PY) -m bench.bench_tts_load --gateway-url http://127.0.0.1:$(GATEWAY_PORT)
	$(PY) -m bench.bench_capacity --gateway-url http://127.0.0.1:$(GATEWAY_PORT)
	$(PY) -m bench.bench_tts_memory
	$(PY) -m bench.bench_gateway --gateway-url http://127.0.0.1:$(GATEWAY_PORT) --tts-url http://127.0.0.1:$(TTS_PORT)
	$(PY) -m bench.bench_openai --gateway-url http://127.0.0.1:$(GATEWAY_PORT)
	$(PY) -m bench.bench_tts_matrix
	$(PY) -m bench.bench_asr --tts-url http://127.0.0.1:$(TTS_PORT)
	$(PY) -m bench.bench_asr_peers --tts-url http://127.0.0.1:$(TTS_PORT)
	$(PY) -m bench.bench_realtime --gateway-url http://127.0.0.1:$(GATEWAY_PORT) --tts-url http://127.0.0.1:$(TTS_PORT)
	$(PY) -m bench.bench_wyoming --tts-url http://127.0.0.1:$(TTS_PORT) \
		--wyoming-tts-port $(WYOMING_TTS_PORT) --wyoming-asr-port $(WYOMING_ASR_PORT)
	$(PY) -m bench.bench_metrics --gateway-url http://127.0.0.1:$(GATEWAY_PORT)

USERS ?= 10
SPAWN_RATE ?= 2
DURATION ?= 60s
load: run $(VENV)/.installed-bench
	@mkdir -p bench/results
	$(VENV)/bin/locust -f bench/locustfile.py --headless --host http://127.0.0.1:$(GATEWAY_PORT) \
		--users $(USERS) --spawn-rate $(SPAWN_RATE) --run-time $(DURATION) --only-summary \
		--csv bench/results/load-$(USERS)u --html bench/results/load-$(USERS)u.html

# Mixed traffic for DURATION (default 10m here): every process's memory growth per 1,000
# requests, and every answer that was not a 2xx (bench/results/soak.json).
soak: run $(VENV)/.installed-bench
	$(PY) -m bench.soak --gateway-url http://127.0.0.1:$(GATEWAY_PORT) --run-dir $(RUN_DIR) \
		--duration $(if $(filter command line environment,$(origin DURATION)),$(DURATION),10m)

clean: stop
	rm -rf $(VENV) $(RUN_DIR) $(LOG_DIR)
