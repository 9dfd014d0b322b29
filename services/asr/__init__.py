"""Speech-to-text service: raw PCM or WAV in, text with word timestamps out."""
