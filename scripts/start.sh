#!/usr/bin/env bash
# Sets everything up, then starts JupyterLab with the extension on the
# embedded default store (SQLite under the Jupyter data dir).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
args=()
# JupyterLab refuses to run as root unless told; our machines run as root.
[ "$(id -u)" = 0 ] && args+=(--allow-root)
exec .venv/bin/jupyter lab "${args[@]}" "$@"
