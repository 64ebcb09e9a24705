"""opsloop.report."""
