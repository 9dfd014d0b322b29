"""gunicorn settings for the ASR service, from the environment.

The gthread worker hands the request body to the app as it arrives, so decoding overlaps a
live upload (meinheld would read the whole body first, and answers 408 to an upload that
trickles in at speaking pace). One process holds the model; its threads serve requests side
by side (Kaldi and CTranslate2 release the GIL while they decode).
"""

from services.common.config import env_int, env_str
from services.common.cpu import yield_cpu
from services.common.gunicorn_settings import ACCESS_LOG_FORMAT, LIMIT_REQUEST_FIELDS, LIMIT_REQUEST_LINE
from services.common.gunicorn_settings import worker_class as _worker_class
from services.common.logs import gunicorn_logging
from services.common.metrics_files import forget_worker, prepare_metrics_dir, remove_metrics_dir

bind = f"{env_str('ASR_HOST', '127.0.0.1')}:{env_int('ASR_PORT', 8081, minimum=1, maximum=65535)}"
workers = env_int("ASR_WORKERS", 1, minimum=1)
worker_class = _worker_class(env_str("ASR_WORKER_CLASS", "gthread"))
# Uploads in progress, and decodes at work (ASR_MAX_DECODES, 2) or waiting (ASR_MAX_QUEUE, 8).
threads = env_int("ASR_THREADS", 16, minimum=1)
timeout = env_int("ASR_WORKER_TIMEOUT", 120, minimum=10)
graceful_timeout = 10
keepalive = 5
# No control socket: nothing here uses it, and its default path is one per user, which the
# services of one machine would share (stopping one removed it for all).
control_socket_disable = True
accesslog = "-"
errorlog = "-"
access_log_format = ACCESS_LOG_FORMAT
# Whatever the gateway lets through (see services.common.gunicorn_settings).
limit_request_line = LIMIT_REQUEST_LINE
limit_request_fields = LIMIT_REQUEST_FIELDS
logconfig_dict = gunicorn_logging("asr")

# Every worker's metrics, added up at /metrics (services.common.metrics_files).
prepare_metrics_dir("asr")
child_exit = forget_worker
on_exit = remove_metrics_dir

# Speech is heard as it streams, so a TTS stream waiting for the CPU is heard as a late start or
# a gap; a transcript is read when it is whole. On a host the services share, the ASR worker
# yields the CPU to TTS (a higher nice value: 0 keeps it equal).
_nice = env_int("ASR_NICE", 5, minimum=0, maximum=19)


def post_fork(server, worker):
    yield_cpu(_nice)
