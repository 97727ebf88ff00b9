"""Start the JupyterHub of the ``hub`` browser test, and keep it until told to stop.

The Playwright configuration runs this as a web server. It starts, in the folder
``SECRETS_UI_HUB_DIR``, what the hub tests start (``jupyterlab_secrets/tests/hub_server.py``):
``bao server -dev`` set up by ``jupyter secrets openbao-setup``, and JupyterHub with
configurable-http-proxy, configured by ``examples/jupyterhub/jupyterhub_config.py`` (alice and
bob in proj-a, carol in proj-b, alice admin of ml-team; any password). On SIGTERM or SIGINT it
stops the hub (which stops the servers and revokes their tokens), then OpenBao.

Without JupyterHub, configurable-http-proxy or ``bao`` it exits with status 1, saying which.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from jupyterlab_secrets.tests.hub_server import HubDidNotStart, missing, running_hub


def main() -> int:
    """Run the hub until told to stop; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="the hub's port")
    args = parser.parse_args()
    reason = missing()
    if reason is not None:
        print(f"{reason} (the hub browser test must run).", file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        with running_hub(Path(os.environ["SECRETS_UI_HUB_DIR"]), port=args.port) as hub:
            print(f"JupyterHub is running at {hub.url}/", flush=True)
            stop.wait()
    except HubDidNotStart as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
