#!/usr/bin/env bash
# A team on JupyterHub whose secrets live in OpenBao, on this machine, with one command:
# sets everything up, starts OpenBao (dev mode, in memory), writes its policies and token role
# with `jupyter secrets openbao-setup`, gives the hub a token that may only mint, renew and
# revoke server tokens, and starts JupyterHub with examples/jupyterhub/jupyterhub_config.py:
# alice and bob in project proj-a, carol in proj-b, alice admin of the community ml-team.
# Ctrl-C stops the hub, its servers (their tokens are revoked) and OpenBao.
#
#   ./scripts/hub-demo.sh              # the hub on http://127.0.0.1:8000
#   SECRETS_HUB_PORT=8010 ./scripts/hub-demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
./scripts/setup.sh
export PATH="$ROOT/.venv/bin:$ROOT/node_modules/.bin:$PATH"

PORT="${SECRETS_HUB_PORT:-8000}"
BAO_PORT="${SECRETS_HUB_BAO_PORT:-8200}"
DEMO="$(mktemp -d "${TMPDIR:-/tmp}/jupyterlab-secrets-hub-demo.XXXXXX")"
chmod 700 "$DEMO"
ROOT_TOKEN="$(python -c 'import secrets; print(secrets.token_hex(16))')"
export BAO_ADDR="http://127.0.0.1:$BAO_PORT"

pids=()
cleanup() {
  # The hub first: it stops the servers, and revokes their tokens, while OpenBao still runs.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -0 "${pids[$i]}" 2>/dev/null && kill "${pids[$i]}" 2>/dev/null
    wait "${pids[$i]}" 2>/dev/null || true
  done
  rm -f "$DEMO/hub.token"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> Starting OpenBao (dev mode, in memory) on $BAO_ADDR"
# In a session of its own, so that Ctrl-C stops the hub first and OpenBao only after it.
setsid env -u BAO_TOKEN -u VAULT_TOKEN bao server -dev -dev-root-token-id="$ROOT_TOKEN" \
  -dev-listen-address="127.0.0.1:$BAO_PORT" >"$DEMO/openbao.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  BAO_TOKEN="$ROOT_TOKEN" bao status >/dev/null 2>&1 && break
  sleep 0.2
done
BAO_TOKEN="$ROOT_TOKEN" bao status >/dev/null || { cat "$DEMO/openbao.log"; exit 1; }

echo "==> jupyter secrets openbao-setup: the mount, the policies and the token role"
BAO_TOKEN="$ROOT_TOKEN" jupyter secrets openbao-setup \
  --SecretsExtension.openbao_url="$BAO_ADDR" \
  --SecretsExtension.project=proj-a \
  --SecretsExtension.communities='{"ml-team": {"admins": ["alice"], "projects": ["proj-a", "proj-b"]}}'

echo "==> The hub's own token: policy jupyterlab-secrets-hub only (it reads no secret)"
(umask 077 && BAO_TOKEN="$ROOT_TOKEN" bao token create -policy=jupyterlab-secrets-hub \
  -period=24h -field=token >"$DEMO/hub.token")
unset ROOT_TOKEN

echo "==> Starting JupyterHub on http://127.0.0.1:$PORT (its files are in $DEMO)"
(
  cd "$DEMO"
  SECRETS_HUB_OPENBAO_URL="$BAO_ADDR" SECRETS_HUB_TOKEN_FILE="$DEMO/hub.token" \
    SECRETS_HUB_PORT="$PORT" exec jupyterhub -f "$ROOT/examples/jupyterhub/jupyterhub_config.py" \
    >"$DEMO/jupyterhub.log" 2>&1
) &
pids+=($!)
for _ in $(seq 1 150); do
  curl -fs "http://127.0.0.1:$PORT/hub/api/" >/dev/null 2>&1 && break
  kill -0 "${pids[1]}" 2>/dev/null || { tail -40 "$DEMO/jupyterhub.log"; exit 1; }
  sleep 0.2
done

cat <<MSG

JupyterHub is running: open http://127.0.0.1:$PORT/ and log in with any password as
  alice  (project proj-a, admin of ml-team): create a secret, open Access, share it with ml-team
  bob    (project proj-a, not an admin): his Access switches are off and disabled
  carol  (project proj-b): the secret alice shared is under "Shared with project"; Add to project,
         and her kernels read it (import os; os.environ["<name>"])
Each user's default server works in their only project; a named server's name is its project.
The hub's log: $DEMO/jupyterhub.log. Ctrl-C stops everything and revokes the servers' tokens.
MSG
wait "${pids[1]}"
