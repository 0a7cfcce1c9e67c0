#!/usr/bin/env bash
# The whole test suite: lint, types, then every test (unit, golden, end to end).
# Run through uv so the locked environment is installed first:  python3 -m uv run --frozen bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== ruff"
ruff check .
ruff format --check .

echo "== mypy (strict)"
mypy -p guardian_common -p guardian_testkit -p guardian_collector -p guardian_evaluator -p guardian_compliance -p guardian_evidence -p guardian_gateway -p guardian_reporting -p guardian_remediation -p guardian_cli

echo "== pytest"
# pytest exits 5 when it ran no test: that is a failure here too.
pytest "$@"
