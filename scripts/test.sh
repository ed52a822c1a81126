#!/usr/bin/env bash
# Runs the test suite: makes .venv (once), installs LiteFlow with its dev extras, runs pytest.
# Tests that need Redis use 127.0.0.1:6379 (LITEFLOW_TEST_REDIS_URL to change it) and skip when none
# answers, unless LITEFLOW_REQUIRE_SERVICES=1. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
exec .venv/bin/python -m pytest -q "$@"
