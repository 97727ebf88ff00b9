#!/usr/bin/env bash
# Sets everything up, then runs every test: linters, pytest (SQLite and
# PostgreSQL), jest, and the browser tests in Debian's Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
./scripts/test-services.sh
export PATH="$PWD/.venv/bin:$PATH"

echo "==> Lint"
ruff check jupyterlab_secrets bench conftest.py ui-tests
ruff format --check jupyterlab_secrets bench conftest.py ui-tests
# The server's layers: the contracts are [tool.importlinter] in pyproject.toml.
lint-imports
jlpm prettier:check
jlpm stylelint:check
jlpm eslint:check
# The browser tests are type-checked too (their own packages, the root's TypeScript).
(cd ui-tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 jlpm install)
jlpm tsc -p ui-tests/tsconfig.json

echo "==> pytest (with real ipykernel, bash_kernel and IRkernel kernels)"
if command -v R >/dev/null && ! jupyter kernelspec list --json | grep -q '"ir"'; then
  R -q -e 'IRkernel::installspec(sys_prefix = TRUE)' >/dev/null
fi
python -m pytest -q -p no:cacheprovider

echo "==> jest"
jlpm test

echo "==> What a notebook's kernel client sees, on real kernels"
jlpm test:kernels

echo "==> Browser tests (Galata, Debian's Chromium)"
(
  cd ui-tests
  # Playwright must not try to download a browser: it cannot, here.
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
  CI=true jlpm playwright test
)
