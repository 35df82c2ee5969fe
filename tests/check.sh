#!/usr/bin/env bash
# The whole test suite, as the README's test command and CI (.ci/run) run it:
#   1. the system dependency: Chromium (headless) for the browser tests, installed from Debian's packages when
#      missing and run as root;
#   2. lint once: ruff (Python), then sqlfluff over every dbt SQL file, incremental branches included;
#   3. pytest (tests/python) in two xdist workers, one test file per worker at a time (module fixtures build
#      once); PYTEST_WORKERS=0 runs in one process. Extra arguments go to pytest.
# Exits non-zero on the first failing step.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "system dependency: chromium"
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
    echo "found $(command -v chromium || command -v chromium-browser)"
elif [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
    echo "installed $(command -v chromium)"
else
    echo "Chromium is missing: install it (apt-get install --no-install-recommends chromium) or run as root" >&2
    exit 2
fi

step "ruff"
python -m ruff check .
python -m ruff format --check .

step "sqlfluff"
python tests/lint_sql.py

step "pytest"
CUSTOMER360_REQUIRE_CHROMIUM=1 python -m pytest -n "${PYTEST_WORKERS:-2}" --dist loadfile "$@"
