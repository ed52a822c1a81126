#!/usr/bin/env bash
# Runs a real workflow on the embedded in-memory default: makes .venv (once), installs LiteFlow (again only
# when pyproject.toml has changed since), runs a sample. Pass another sample's path to run that one instead.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.liteflow-demo-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
  touch "$stamp"
fi
exec .venv/bin/python "${1:-samples/01_hello_world.py}"
