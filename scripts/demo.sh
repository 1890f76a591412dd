#!/usr/bin/env bash
# Set everything up and run the main job on the embedded default content (README command one).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/laserjnd demo "$@"
