.PHONY: check test demo lock
check:
	.venv/bin/python -m ruff check src tests bench
	.venv/bin/python -m mypy
	.venv/bin/lint-imports
test:
	scripts/test
demo:
	scripts/demo
lock:
	.venv/bin/python -m uv pip compile pyproject.toml --extra report -o requirements/run.lock --python-version 3.11 --generate-hashes --quiet
	.venv/bin/python -m uv pip compile pyproject.toml --extra report --extra dev --extra peers --extra spark --extra browser -o requirements/dev.lock --python-version 3.11 --generate-hashes --quiet
