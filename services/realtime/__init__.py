"""Live speech recognition over WebSocket, in vosk-server's protocol (`/api/stt/ws`)."""
