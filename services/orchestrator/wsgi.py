"""gunicorn entry point: `gunicorn services.orchestrator.wsgi:app`."""

from services.common.unread_body import DropUnreadBody, largest_body_bytes
from services.orchestrator.app import create_app

# An upload answered before its end (ASR refused it, a method the path does not take) is read
# and dropped after the answer, so the gateway gets the answer and not a reset connection.
app = DropUnreadBody(create_app(), largest_body_bytes())
