#!/usr/bin/env bash
# Sets up a development environment from nothing: a Python virtualenv in .venv
# with the extension installed in editable mode, its frontend built and linked
# into JupyterLab. Running it again only refreshes what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> Creating the virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
export PATH="$PWD/$VENV/bin:$PATH"

echo "==> Installing jupyterlab-secrets (editable) with its test and development dependencies"
# The build hook installs the npm packages with jlpm and builds the frontend.
pip install --quiet --upgrade pip
# After `jupyter labextension develop` (below), the labextension folder is linked into the
# environment, and installing writes install.json into it; the next build would then ship that
# file twice and fail. It is generated (and git-ignored): drop it before building again.
rm -f jupyterlab_secrets/labextension/install.json
pip install --quiet -e ".[test,dev]"

echo "==> Building and linking the frontend"
jlpm install
jlpm build
# Playwright for the browser tests and benches; they drive the system's Chromium.
(cd ui-tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 jlpm install)
jupyter labextension develop --overwrite . >/dev/null
jupyter server extension enable --sys-prefix jupyterlab_secrets >/dev/null
