"""Streaming text-to-speech service."""
