#!/usr/bin/env bash
# Sets everything up, then starts JupyterLab with the extension on the
# embedded default store (SQLite under the Jupyter data dir).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/jupyter lab "$@"
