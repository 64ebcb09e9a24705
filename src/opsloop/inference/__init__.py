"""opsloop.inference."""
