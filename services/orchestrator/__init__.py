"""Echo orchestrator: speech in, recognized text out to Nginx, which streams TTS back."""
