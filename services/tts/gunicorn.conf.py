"""gunicorn settings for the TTS service, from the environment.

Defaults suit a 2-core machine: two worker processes, each running onnxruntime with two
intra-op threads (TTS_ORT_THREADS), so one stream gets both cores and two streams share them.
"""

from services.common.config import env_int, env_str
from services.common.gunicorn_settings import worker_class as _worker_class

bind = f"{env_str('TTS_HOST', '127.0.0.1')}:{env_int('TTS_PORT', 8082, minimum=1, maximum=65535)}"
workers = env_int("TTS_WORKERS", 2, minimum=1)
worker_class = _worker_class(env_str("TTS_WORKER_CLASS", "meinheld"))
threads = env_int("TTS_THREADS", 4, minimum=1)  # used by the gthread worker only
timeout = env_int("TTS_WORKER_TIMEOUT", 120, minimum=10)
graceful_timeout = 10
keepalive = 5
accesslog = "-"
errorlog = "-"
