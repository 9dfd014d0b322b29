"""Code shared by every service: configuration, JSON errors, audio conversion."""
