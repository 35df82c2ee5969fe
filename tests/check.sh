#!/usr/bin/env bash
# The whole test suite, as the README's test command and CI (.ci/run) run it:
#   1. the system dependency: Chromium (headless) for the browser tests, installed from Debian's packages when
#      missing and run as root;
#   2. ruff (Python), which fails fast;
#   3. sqlfluff over every dbt SQL file, incremental branches included, in the background: it runs beside
#      pytest and fills the cores pytest leaves idle; its report is printed, whole, after pytest's;
#   4. pytest (tests/python) in two xdist workers, one test file per worker at a time (module fixtures build
#      once), the slowest files first (conftest.py orders them; --no-loadscope-reorder keeps that order);
#      PYTEST_WORKERS=0 runs in one process. Extra arguments go to pytest.
# Exits non-zero when any step failed (ruff at once; sqlfluff and pytest after both have finished).
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

step "sqlfluff (started in the background; its report follows pytest's)"
lint_log="$(mktemp -t customer360-sqlfluff.XXXXXX)"
# setsid: the lint and its sqlfluff workers form one process group, so an interrupted run stops all of them.
setsid python tests/lint_sql.py >"$lint_log" 2>&1 &
lint_pid=$!
trap 'kill -- -"$lint_pid" 2>/dev/null || true; rm -f "$lint_log"' EXIT
trap 'exit 130' INT TERM

step "pytest"
pytest_status=0
CUSTOMER360_REQUIRE_CHROMIUM=1 python -m pytest -n "${PYTEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@" \
    || pytest_status=$?

step "sqlfluff report"
lint_status=0
wait "$lint_pid" || lint_status=$?
cat "$lint_log"
trap 'rm -f "$lint_log"' EXIT

step "done"
[ "$lint_status" = 0 ] || echo "sqlfluff failed (exit $lint_status)" >&2
[ "$pytest_status" = 0 ] || echo "pytest failed (exit $pytest_status)" >&2
[ "$lint_status" = 0 ] && [ "$pytest_status" = 0 ]
