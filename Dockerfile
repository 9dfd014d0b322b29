# Every image of the stack, one target each (docker compose builds them with `target:`):
#   asr, orchestrator, tts   the services under gunicorn
#   realtime                 the live-recognition WebSocket service: the asr image, another command
#   wyoming-tts, wyoming-asr the Wyoming servers for Home Assistant: the asr image with the
#                            protocol's packages, another command each
#   gateway                  Debian's nginx and the one template, rendered at start; the API's
#                            description and its reference page (docs/), and the page at "/"
#                            (web/), served as files
#   monitoring               Debian's Prometheus and blackbox exporter with the configs of
#                            deploy/monitoring/, for the compose profile `monitoring`: one image,
#                            two services (docker-compose.override.yml)
#   export                   `python -m export` into the model volumes; torch lives only here
# Build context: the repository root. No image carries model weights: TTS and ASR read them
# from the volumes the export fills. Every image runs as the unprivileged user "speech".
# The stages that only the last targets need come last, so a builder that builds every stage
# before its target (the classic builder, Compose 1.29) never builds torch for a service.

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MODELS_DIR=/models \
    LOG_DIR=/logs
WORKDIR /app
# /logs (the speech_logs volume) and the model folders belong to "speech": a fresh named volume
# takes the owner of the folder it is mounted on, so the export can fill it without root.
RUN useradd --system --uid 10001 --home-dir /tmp --no-create-home speech \
    && mkdir -p /logs /models/tts /models/asr \
    && chown speech:speech /logs /models /models/tts /models/asr
COPY services/requirements-common.txt services/
# Each target sets HEALTH_URL; the check is the same small module `make run` waits with.
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-m", "services.common.health", "--timeout", "4"]

FROM base AS asr
COPY services/asr/requirements.txt services/asr/
RUN pip install -r services/asr/requirements.txt
COPY services/ services/
ENV ASR_HOST=0.0.0.0 ASR_PORT=8081 HEALTH_URL=http://127.0.0.1:8081/healthz
EXPOSE 8081
USER speech
CMD ["gunicorn", "-c", "services/asr/gunicorn.conf.py", "services.asr.wsgi:app"]

# The live WebSocket front door runs the ASR engines: built FROM the asr stage, so both images
# share every layer of the requirements and differ only in settings and command. A target of
# its own (rather than the asr image with a command override) gives it its own health check,
# port and name wherever the images are listed. It inherits asr's EXPOSE 8081, which it does
# not listen on.
FROM asr AS realtime
ENV REALTIME_HOST=0.0.0.0 REALTIME_PORT=8084 HEALTH_URL=http://127.0.0.1:8084/healthz
EXPOSE 8084
CMD ["gunicorn", "-c", "services/realtime/gunicorn.conf.py", "services.realtime.asgi:app"]

# The Wyoming servers: the ASR one recognizes in its own process, so both are built FROM the asr
# stage (the TTS one only calls the TTS service, and shares these layers rather than adding a
# base of its own). Their health check speaks the protocol: describe, answered by info.
FROM asr AS wyoming-asr
USER root
COPY services/wyoming/requirements.txt services/wyoming/
RUN pip install -r services/wyoming/requirements.txt
USER speech
ENV WYOMING_HOST=0.0.0.0 HEALTH_URL=tcp://127.0.0.1:10300
EXPOSE 10300
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-m", "services.wyoming.probe", "--timeout", "4"]
CMD ["python", "-m", "services.wyoming", "asr"]

FROM wyoming-asr AS wyoming-tts
ENV HEALTH_URL=tcp://127.0.0.1:10200
EXPOSE 10200
CMD ["python", "-m", "services.wyoming", "tts"]

FROM base AS orchestrator
COPY services/orchestrator/requirements.txt services/orchestrator/
RUN pip install -r services/orchestrator/requirements.txt
COPY services/ services/
ENV ORCHESTRATOR_HOST=0.0.0.0 ORCHESTRATOR_PORT=8083 HEALTH_URL=http://127.0.0.1:8083/healthz
EXPOSE 8083
USER speech
CMD ["gunicorn", "-c", "services/orchestrator/gunicorn.conf.py", "services.orchestrator.wsgi:app"]

# nginx runs unprivileged too: it listens above 1024 and writes only /run/gateway and /logs.
FROM base AS gateway
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx libnginx-mod-http-js \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /run/gateway && chown speech:speech /run/gateway
# Swagger UI's files for the reference page (/docs/): only they are served, so the package goes
# in without its dependencies.
COPY nginx/requirements.txt nginx/
RUN pip install --no-deps -r nginx/requirements.txt
COPY nginx/ nginx/
COPY docs/openapi.json docs/
COPY docs/reference/ docs/reference/
COPY web/ web/
COPY services/__init__.py services/
COPY services/common/__init__.py services/common/health.py services/common/
ENV GATEWAY_PORT=8000 HEALTH_URL=http://127.0.0.1:8000/healthz
EXPOSE 8000
USER speech
# Logs go to the container's output (docker compose logs -f gateway) and to /logs.
CMD ["sh", "-c", "python nginx/render.py --output /run/gateway/nginx.conf --listen 0.0.0.0 --run-dir /run/gateway --log-dir /logs --error-log /dev/stderr --access-log /dev/stdout && exec nginx -e /dev/stderr -c /run/gateway/nginx.conf -g 'daemon off;'"]

FROM base AS tts-requirements
COPY services/tts/requirements.txt services/tts/
RUN pip install -r services/tts/requirements.txt

# meinheld compiles from C; its wheel is built here, so no compiler reaches the TTS image.
# It is installed without its declared dependencies (see services/requirements-meinheld.txt).
FROM tts-requirements AS meinheld-wheel
COPY services/requirements-meinheld.txt services/
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install setuptools wheel \
    && pip wheel --no-deps --no-build-isolation --wheel-dir /wheels -r services/requirements-meinheld.txt

FROM tts-requirements AS tts
COPY --from=meinheld-wheel /wheels /wheels
RUN pip install --no-deps /wheels/*.whl && rm -rf /wheels
COPY services/ services/
ENV TTS_HOST=0.0.0.0 TTS_PORT=8082 HEALTH_URL=http://127.0.0.1:8082/healthz
EXPOSE 8082
USER speech
CMD ["gunicorn", "-c", "services/tts/gunicorn.conf.py", "services.tts.wsgi:app"]

# Prometheus and the blackbox exporter, from Debian's packages (bookworm: Prometheus 2.42,
# blackbox exporter 0.23). One image for both: Prometheus is its command, the blackbox service
# gives its own. Built FROM base for the user and the health check (HEALTH_URL: Prometheus is
# ready once its data is loaded; the blackbox service sets its own); placed before export, so
# a classic builder building it does not build torch. The configs are checked here: a broken
# one fails the build, not the start. /prometheus (the prometheus_data volume) belongs to
# "speech", as /logs does.
FROM base AS monitoring
RUN apt-get update \
    && apt-get install -y --no-install-recommends prometheus prometheus-blackbox-exporter \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /prometheus && chown speech:speech /prometheus
COPY services/__init__.py services/
COPY services/common/__init__.py services/common/health.py services/common/
COPY deploy/monitoring/prometheus.yml deploy/monitoring/alerts.yml deploy/monitoring/blackbox.yml monitoring/
RUN promtool check config monitoring/prometheus.yml \
    && prometheus-blackbox-exporter --config.file=monitoring/blackbox.yml --config.check
ENV HEALTH_URL=http://127.0.0.1:9090/-/ready
EXPOSE 9090 9115
USER speech
# Fifteen days of data (Prometheus's default), and never more than 2 GB of the volume.
CMD ["prometheus", "--config.file=monitoring/prometheus.yml", "--web.listen-address=0.0.0.0:9090", \
     "--storage.tsdb.path=/prometheus", "--storage.tsdb.retention.time=15d", "--storage.tsdb.retention.size=2GB"]

FROM base AS export
# torch is only for the Silero export, and its CPU build is a fraction of the default one. Where
# the PyTorch index cannot be reached, build with TORCH_INDEX_URL= (empty): PyPI's torch is
# installed at once instead of after minutes of retries.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY services/tts/requirements.txt services/tts/
COPY services/asr/requirements.txt services/asr/
COPY export/requirements.txt export/requirements-silero.txt export/
RUN pip install -r export/requirements.txt \
    && pip install ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} -r export/requirements-silero.txt
COPY services/ services/
COPY export/ export/
# A one-off job, not a server: no health check.
HEALTHCHECK NONE
USER speech
CMD ["python", "-m", "export"]
