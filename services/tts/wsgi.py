"""gunicorn entry point: `gunicorn services.tts.wsgi:app`.

Without `--preload`, gunicorn imports this module in each worker after forking, so every
worker builds its own onnxruntime sessions.
"""

from services.tts.app import create_app

app = create_app()
