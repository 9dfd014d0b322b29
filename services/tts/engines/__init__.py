"""Synthesis engines. Each turns one piece of normalized text into float32 mono audio."""
