"""opsloop.io."""
