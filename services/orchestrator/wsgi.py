"""gunicorn entry point: `gunicorn services.orchestrator.wsgi:app`."""

from services.orchestrator.app import create_app

app = create_app()
