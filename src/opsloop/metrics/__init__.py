"""opsloop.metrics."""
