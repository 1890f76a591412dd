#!/usr/bin/env bash
# Create .venv and install laserjnd. torch==2.13.0 goes first: a looser requirement would pull
# a multi-GB CUDA build. Usage: scripts/setup.sh [EXTRAS]   e.g. scripts/setup.sh dev,keras
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".${extras:+[$extras]}"
