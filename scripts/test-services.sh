#!/usr/bin/env bash
# Makes sure the services the tests talk to are there: Debian's Chromium for
# the browser tests, R with IRkernel for the kernel tests, and PostgreSQL on
# 127.0.0.1:5432 for the store tests.
set -euo pipefail

apt_updated=no
# Install Debian packages as root; anyone else is told what to run.
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "Missing: run 'sudo apt-get install -y $*'." >&2
    return 1
  fi
  if [ "$apt_updated" = no ]; then
    apt-get update -qq
    apt_updated=yes
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x /usr/bin/chromium ]; then
  echo "==> Installing Debian's Chromium"
  apt_install chromium
fi

# IRkernel, so that the injector is tested against a real R kernel too.
if ! Rscript -e 'library(IRkernel)' >/dev/null 2>&1; then
  echo "==> Installing R and IRkernel"
  apt_install r-cran-irkernel || echo "==> Without IRkernel its kernel tests will be skipped"
fi

if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "==> Starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 1 30); do
      pg_isready -q -h 127.0.0.1 -p 5432 && break
      sleep 1
    done
  fi
fi
if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "==> PostgreSQL is up on 127.0.0.1:5432"
else
  if [ "${CI:-}" = true ]; then
    echo "==> PostgreSQL is not reachable on 127.0.0.1:5432: with CI=true its tests fail" >&2
  else
    echo "==> PostgreSQL is not reachable on 127.0.0.1:5432: its store tests will be skipped"
  fi
fi
