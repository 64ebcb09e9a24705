"""opsloop.cli."""
