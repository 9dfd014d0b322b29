"""The build step: model sources in, serving artifacts under models/ out."""
