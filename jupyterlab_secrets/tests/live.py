"""A real ``jupyter server`` subprocess with the extension from this source tree.

For tests that must not share the test's event loop (a synchronous fuzzer), or that kill the
server (SIGKILL) and start it again on the same store.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from jupyter_server.auth.identity import IdentityProvider, User

ROOT = Path(__file__).resolve().parents[2]
API = "/jupyterlab-secrets/api/"


class NamedUserIdentityProvider(IdentityProvider):
    """Token authentication with a stable user name: ``X-Test-User``, by default alice.

    The stock provider names each token request anew; community admins need stable names.
    """

    async def get_user(self, handler: Any) -> User | None:
        user = await super().get_user(handler)
        if user is None:
            return None
        return User(username=handler.request.headers.get("X-Test-User", "alice"))


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LiveServer:
    """One ``jupyter server`` process on loopback, its token, and where it keeps its files."""

    workdir: Path
    db_url: str
    key: str
    project: str = "proj-a"
    communities: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    """More ``SecretsExtension`` settings (an OpenBao store)."""
    env: dict[str, str] = field(default_factory=dict)
    """More variables of the server's environment (an OpenBao token)."""
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    extra_config: dict[str, dict[str, Any]] = field(default_factory=dict)
    """More settings, by section; ``ServerApp.jpserver_extensions`` adds to the list."""
    port: int = 0
    process: subprocess.Popen | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        """The base URL of the secrets API, ending with a slash."""
        return f"http://127.0.0.1:{self.port}{API}"

    @property
    def headers(self) -> dict[str, str]:
        """Token authentication."""
        return {"Authorization": f"token {self.token}"}

    def start(self, timeout: float = 90) -> LiveServer:
        """Start the process (again, on the same store and key) and wait until it serves."""
        self.port = free_port()
        self.starts += 1
        config_dir = self.workdir / "config"
        config_dir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "root").mkdir(exist_ok=True)
        config = {
            "ServerApp": {
                "ip": "127.0.0.1",
                "port": self.port,
                "port_retries": 0,
                "open_browser": False,
                "root_dir": str(self.workdir / "root"),
                # Only this extension: the others of the environment cost seconds to load.
                "jpserver_extensions": {
                    "jupyterlab_secrets": True,
                    "jupyterlab": False,
                    "jupyter_lsp": False,
                    "notebook_shim": False,
                    "jupyter_server_terminals": False,
                    "jupyter_scheduler": False,
                },
                "log_level": "WARN",
                "identity_provider_class": f"{__name__}.NamedUserIdentityProvider",
            },
            "IdentityProvider": {"token": self.token},
            "SecretsExtension": {
                "project": self.project,
                "db_url": self.db_url,
                "key_file": str(self.workdir / "unused-key-file"),
                "communities": self.communities,
                **self.settings,
            },
        }
        for section, values in self.extra_config.items():
            merged = {**config.get(section, {}), **values}
            if section == "ServerApp" and "jpserver_extensions" in values:
                merged["jpserver_extensions"] = {
                    **config["ServerApp"]["jpserver_extensions"],
                    **values["jpserver_extensions"],
                }
            config[section] = merged
        (config_dir / "jupyter_server_config.json").write_text(json.dumps(config))
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(config_dir),
            "JUPYTER_DATA_DIR": str(self.workdir / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.workdir / "runtime"),
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "JUPYTERLAB_SECRETS_KEY": self.key,
            **self.env,
        }
        command = [sys.executable, "-m", "jupyter_server"]
        if os.geteuid() == 0:
            command.append("--allow-root")
        log = open(self.workdir / f"server-{self.starts}.log", "wb")  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
            )
        finally:
            log.close()  # the child holds its own copy
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(headers=self.headers, timeout=5) as client:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"the server exited with {self.process.returncode}: {self.log()}"
                    )
                try:
                    reply = client.get(self.url + "communities")
                except httpx.TransportError:
                    time.sleep(0.2)
                    continue
                if reply.status_code != 200:
                    raise RuntimeError(f"the extension answers {reply.status_code}: {reply.text}")
                return
        raise RuntimeError(f"the server did not start in {timeout} s: {self.log()}")

    def log(self) -> str:
        """The end of the latest start's log."""
        path = self.workdir / f"server-{self.starts}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as in a crash or an OOM kill."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """Stop it cleanly (SIGTERM), or kill it if it does not stop."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
