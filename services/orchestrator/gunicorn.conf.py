"""gunicorn settings for the echo orchestrator, from the environment.

gthread, like ASR: the upload is passed on to ASR as it arrives (so recognition overlaps it),
which meinheld cannot do since it reads the whole body first. Each request holds a thread
only while ASR works; the audio answer is streamed by Nginx, not through here.
"""

from services.common.config import env_int, env_str
from services.common.gunicorn_settings import ACCESS_LOG_FORMAT, LIMIT_REQUEST_FIELDS, LIMIT_REQUEST_LINE
from services.common.gunicorn_settings import worker_class as _worker_class
from services.common.logs import gunicorn_logging
from services.common.metrics_files import forget_worker, prepare_metrics_dir, remove_metrics_dir

bind = f"{env_str('ORCHESTRATOR_HOST', '127.0.0.1')}:{env_int('ORCHESTRATOR_PORT', 8083, minimum=1, maximum=65535)}"
workers = env_int("ORCHESTRATOR_WORKERS", 1, minimum=1)
worker_class = _worker_class(env_str("ORCHESTRATOR_WORKER_CLASS", "gthread"))
threads = env_int("ORCHESTRATOR_THREADS", 8, minimum=1)
timeout = env_int("ORCHESTRATOR_WORKER_TIMEOUT", 120, minimum=10)
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
logconfig_dict = gunicorn_logging("orchestrator")

# Every worker's metrics, added up at /metrics (services.common.metrics_files).
prepare_metrics_dir("orchestrator")
child_exit = forget_worker
on_exit = remove_metrics_dir
