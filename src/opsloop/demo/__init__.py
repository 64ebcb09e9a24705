"""opsloop.demo."""
