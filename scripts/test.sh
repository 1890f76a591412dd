#!/usr/bin/env bash
# Set everything up and run the test suite (README command two; CI runs exactly this).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev,keras
export LASERJND_CACHE_DIR="${LASERJND_CACHE_DIR:-$PWD/.cache/laserjnd}"
.venv/bin/python -m pytest -q "$@"
