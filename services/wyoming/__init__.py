"""Wyoming front doors: Home Assistant's protocol for speech, on TCP.

Two servers, each a thin adapter over an engine layer the HTTP API already uses:

- TTS (`services.wyoming.tts`, port 10200) calls the TTS service's streaming `/api/tts` and
  forwards its PCM as `audio-chunk` events. Going through the service, not loading the voices
  again, keeps one copy of each voice in memory and one scheduler deciding who gets the CPU
  next: a Wyoming reader waits in the same queue, under the same limits, as an HTTP one.
- ASR (`services.wyoming.asr`, port 10300) recognizes in its own process through the ASR
  engine layer's live streams (`services.asr.live`), as the realtime WebSocket service does:
  an utterance is decoded as soon as a pause ends it, while audio still arrives, which gives
  both early `transcript-chunk` events and a short wait after `audio-stop`. The upload API
  answers only at the end of its body, so it could give neither.

Both read events through `events.read_event`, which bounds what a client may send, and answer
what goes wrong with Wyoming's `error` event; the server goes on serving.
"""
