#!/usr/bin/env bash
# Runs a real workflow on the embedded in-memory default: makes .venv (once), installs LiteFlow, runs a sample.
# Pass another sample's path to run that one instead.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
exec .venv/bin/python "${1:-samples/01_hello_world.py}"
