"""gunicorn entry point: `gunicorn -c services/realtime/gunicorn.conf.py services.realtime.asgi:app`
(the model loads in each worker)."""

from services.realtime.access_log import AccessLog
from services.realtime.app import create_app

app = AccessLog(create_app())
