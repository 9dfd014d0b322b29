"""gunicorn entry point: `gunicorn services.tts.wsgi:app`.

Without `--preload`, gunicorn imports this module in each worker after forking, so every
worker builds its own onnxruntime sessions.
"""

from services.common.unread_body import DropUnreadBody, largest_body_bytes
from services.tts.app import create_app

# A body answered before it is read (wrong type or size, a method the path does not take) is
# read and dropped after the answer, so the gateway's kept-alive connection stays usable.
app = DropUnreadBody(create_app(), largest_body_bytes())
