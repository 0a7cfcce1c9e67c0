#!/usr/bin/env bash
# The whole test suite: lint, types, then every test (unit, golden, end to end).
# Run through uv so the locked environment is installed first:  python3 -m uv run --frozen bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# The browser tests drive Debian's Chromium (never a downloaded browser); install it where we can.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing Debian's chromium for the browser tests"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ||
    echo "chromium could not be installed: the browser tests will say so and skip"
fi

echo "== ruff"
ruff check .
ruff format --check .

echo "== mypy (strict)"
mypy -p guardian_common -p guardian_testkit -p guardian_collector -p guardian_evaluator -p guardian_compliance -p guardian_evidence -p guardian_gateway -p guardian_reporting -p guardian_remediation -p guardian_cli

echo "== pytest"
# pytest exits 5 when it ran no test: that is a failure here too.
# Most tests wait on services, NATS and PostgreSQL rather than compute, so two workers (one per core
# here) nearly halve the run. A file's tests stay on one worker: several share a module-scoped stack.
# GUARDIAN_TEST_WORKERS=0 runs everything in this process (easier to debug).
workers="${GUARDIAN_TEST_WORKERS:-2}"
if [ "$workers" = 0 ]; then
  pytest "$@"
else
  pytest -n "$workers" --dist loadfile "$@"
fi
