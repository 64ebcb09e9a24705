# Shared set-up for scripts/demo and scripts/test: a virtualenv in .venv with the
# locked dependency versions of requirements/*.lock, and opsloop installed editable.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
UV_VERSION="0.13.8"

find_python() {
  for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
    if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 \
       && "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
      echo "$candidate"; return 0
    fi
  done
  echo "error: opsloop needs Python 3.11 or newer" >&2
  return 1
}

setup_env() {  # $1: lock file to install; further arguments: lock files that also do
  local lock="$1" accepted
  for accepted in "$@"; do  # an environment built from a superset lock is kept as it is
    if [ -x .venv/bin/opsloop ] && cmp -s "$accepted" ".venv/.opsloop-lock-$(basename "$accepted")"; then
      return 0
    fi
  done
  if [ ! -x .venv/bin/python ]; then
    "$(find_python)" -m venv .venv
  fi
  if ! .venv/bin/python -m uv --version 2>/dev/null | grep -q "$UV_VERSION"; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  fi
  local stamp=".venv/.opsloop-lock-$(basename "$lock")"
  if [ ! -f "$stamp" ] || ! cmp -s "$lock" "$stamp"; then
    # bytecode compiled at install time: the first `opsloop` run does not pay for it, and
    # start-up does not depend on whether the user's site-packages is writable
    .venv/bin/python -m uv pip sync --quiet --compile-bytecode --python .venv/bin/python "$lock"
    .venv/bin/python -m uv pip install --quiet --compile-bytecode --python .venv/bin/python \
      --no-deps -e .
    rm -f .venv/.opsloop-lock-*
    cp "$lock" "$stamp"
  fi
}
