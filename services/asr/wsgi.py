"""gunicorn entry point: `gunicorn services.asr.wsgi:app` (models load in each worker)."""

from services.asr.app import create_app

app = create_app()
