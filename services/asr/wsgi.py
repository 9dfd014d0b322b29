"""gunicorn entry point: `gunicorn services.asr.wsgi:app` (models load in each worker)."""

from services.asr.app import create_app
from services.asr.settings import AsrSettings
from services.common.unread_body import DropUnreadBody

# An upload refused before its end (audio too long) is answered, then its rest read and dropped.
app = DropUnreadBody(create_app(), AsrSettings.from_env().max_upload_bytes)
