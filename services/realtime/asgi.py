"""gunicorn entry point: `gunicorn -c services/realtime/gunicorn.conf.py services.realtime.asgi:app`
(the model loads in each worker)."""

from services.realtime.app import create_app

app = create_app()
