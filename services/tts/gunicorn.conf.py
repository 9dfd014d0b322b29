"""gunicorn settings for the TTS service, from the environment.

The default is one process with gthread threads, sharing one onnxruntime session (its runs
release the GIL) with TTS_ORT_THREADS intra-op threads. Measured on a 2-core machine against
meinheld (2 processes), same requests (time to first audio, median, paragraph text):

    parallel streams         1        2        4        8
    meinheld, 2 workers    44 ms    80 ms   648 ms  1192 ms
    gthread, 1 x 8         47 ms    93 ms   175 ms   291 ms

Throughput was the same (18-20 s of audio per second). meinheld is a few ms ahead with one
stream, but a meinheld worker synthesizes one stream at a time, so streams that land on a busy
worker wait for whole pieces of the others; gthread threads share the cores fairly. meinheld
stays available (TTS_WORKER_CLASS=meinheld; give it TTS_WORKERS=2).
"""

from services.common.config import env_int, env_str
from services.common.gunicorn_settings import ACCESS_LOG_FORMAT, LIMIT_REQUEST_FIELDS, LIMIT_REQUEST_LINE
from services.common.gunicorn_settings import worker_class as _worker_class
from services.common.logs import gunicorn_logging
from services.common.metrics_files import forget_worker, prepare_metrics_dir, remove_metrics_dir

bind = f"{env_str('TTS_HOST', '127.0.0.1')}:{env_int('TTS_PORT', 8082, minimum=1, maximum=65535)}"
workers = env_int("TTS_WORKERS", 1, minimum=1)
worker_class = _worker_class(env_str("TTS_WORKER_CLASS", "gthread"))
# Enough threads for TTS_MAX_STREAMS (24) streams at work and TTS_MAX_QUEUE (16) waiting.
threads = env_int("TTS_THREADS", 48, minimum=1)  # used by the gthread worker only
timeout = env_int("TTS_WORKER_TIMEOUT", 120, minimum=10)
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
logconfig_dict = gunicorn_logging("tts")

# Every worker's metrics, added up at /metrics (services.common.metrics_files).
prepare_metrics_dir("tts")
child_exit = forget_worker
on_exit = remove_metrics_dir
