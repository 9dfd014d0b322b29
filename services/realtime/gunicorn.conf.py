"""gunicorn settings for the realtime service, from the environment.

An ASGI app (WebSocket needs it) under uvicorn's worker for gunicorn (`services.realtime.worker`),
so the service is started, stopped, logged and restarted like the WSGI services. Each worker
loads the model once and serves REALTIME_MAX_SESSIONS sessions; the engine's work runs on a
thread pool of that size, beside the event loop.
"""

from services.common.config import env_int
from services.common.cpu import yield_cpu
from services.common.gunicorn_settings import ACCESS_LOG_FORMAT
from services.common.logs import gunicorn_logging
from services.common.metrics_files import forget_worker, prepare_metrics_dir, remove_metrics_dir
from services.realtime.settings import RealtimeSettings

_settings = RealtimeSettings.from_env()

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
worker_class = "services.realtime.worker.RealtimeWorker"
# The event loop never waits on the engine, so a worker that stops checking in is stuck.
timeout = 120
# Sessions last as long as their clients stream: on a stop or restart, open ones are closed at
# once (1012, "service restart") and their clients connect again; this bounds the decode in flight.
graceful_timeout = 10
keepalive = 5
# No control socket: nothing here uses it, and its default path is one per user, which the
# services of one machine would share (stopping one removed it for all).
control_socket_disable = True
accesslog = "-"
errorlog = "-"
access_log_format = ACCESS_LOG_FORMAT
logconfig_dict = gunicorn_logging("realtime")

# Every worker's metrics, added up at /metrics (services.common.metrics_files).
prepare_metrics_dir("realtime")
child_exit = forget_worker
on_exit = remove_metrics_dir

# Recognition, live or not, yields the CPU to TTS streams, whose delays are heard (see ASR's).
_nice = env_int("ASR_NICE", 5, minimum=0, maximum=19)


def post_fork(server, worker):
    yield_cpu(_nice)
