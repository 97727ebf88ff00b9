"""Fixtures for the secrets tests: an API client, direct access to the store, databases."""

from __future__ import annotations

import copy
import io
import json
import os
import socket
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth.identity import IdentityProvider, User
from jupyter_server.serverapp import ServerApp
from sqlalchemy import create_engine, text
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from traitlets.config import Config
from traitlets.utils.importstring import import_item

from jupyterlab_secrets.app import SecretsExtension
from jupyterlab_secrets.cli import SUBCOMMANDS, SecretsApp
from jupyterlab_secrets.cli import main as cli_main
from jupyterlab_secrets.crypto import Keyring, create_key_file, generate_key
from jupyterlab_secrets.service import SecretsService
from jupyterlab_secrets.stores.sql import SqlSecretStore

from .kernel_client import connect, kernel_names  # noqa: F401  (fixtures: kernels)
from .openbao_server import bao_server, open_store, openbao  # noqa: F401  (fixtures: a real OpenBao)

API = ("jupyterlab-secrets", "api")

COMMUNITIES = {
    "ml-team": {"admins": ["alice"], "projects": ["proj-a", "proj-b"]},
    "data-team": {"admins": ["bob"], "projects": ["proj-a", "proj-c"]},
    "other-team": {"admins": ["alice"], "projects": ["proj-c"]},
}
"""proj-a is in ml-team (admin alice) and data-team (admin bob); other-team lacks proj-a."""

PG_URL = os.environ.get(
    "JUPYTERLAB_SECRETS_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


class NamedUserIdentityProvider(IdentityProvider):
    """Token authentication, with the user named by the ``X-Test-User`` header (default alice).

    The stock provider gives every token request a fresh anonymous name; the rules about
    community admins need stable ones.
    """

    async def get_user(self, handler: Any) -> User | None:
        user = await super().get_user(handler)
        if user is None:
            return None
        return User(username=handler.request.headers.get("X-Test-User", "alice"))


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    """The root server config, with stable user names."""
    jp_server_config.ServerApp.identity_provider_class = NamedUserIdentityProvider
    return jp_server_config


@dataclass
class Reply:
    """A response of the secrets API."""

    status: int
    body: Any
    headers: Any

    @property
    def message(self) -> str:
        return self.body["message"]


_NO_BODY = object()

Api = Callable[..., Awaitable[Reply]]


def _request(
    method: str,
    body: Any = _NO_BODY,
    raw: bytes | None = None,
    user: str | None = None,
    auth: bool = True,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The keyword arguments of a tornado fetch for one API call."""
    sent = dict(headers or {})
    if user is not None:
        sent["X-Test-User"] = user
    if not auth:
        sent["Authorization"] = ""
    if raw is not None:
        data: bytes | None = raw
    elif body is not _NO_BODY:
        data = json.dumps(body).encode()
    else:
        data = b"" if method in ("POST", "PUT", "PATCH") else None
    return {
        "method": method,
        "body": data,
        "headers": sent,
        "raise_error": False,
        "allow_nonstandard_methods": True,
    }


def _reply(response: Any) -> Reply:
    decoded = json.loads(response.body) if response.body else None
    return Reply(response.code, decoded, response.headers)


@pytest.fixture
def api(jp_fetch: Any) -> Api:
    """Call the secrets API: ``await api("POST", "secrets", body={...})``; keywords ``user``,
    ``raw`` (bytes instead of ``body``), ``auth=False`` and ``headers``."""

    async def call(method: str, *path: str, **options: Any) -> Reply:
        return _reply(await jp_fetch(*API, *path, **_request(method, **options)))

    return call


@dataclass
class Server:
    """Another jupyter_server with the extension, in this process, for one project."""

    project: str
    app: ServerApp
    http: HTTPServer
    url: str
    token: str
    client: AsyncHTTPClient = field(default_factory=lambda: AsyncHTTPClient(force_instance=True))

    async def api(self, method: str, *path: str, **options: Any) -> Reply:
        """Call its secrets API, as the `api` fixture calls the test server's."""
        request = _request(method, **options)
        request["headers"].setdefault("Authorization", f"token {self.token}")
        url = "/".join([self.url, *API, *path])
        return _reply(await self.client.fetch(url, **request))

    async def stop(self) -> None:
        self.client.close()
        self.http.stop()
        await self.http.close_all_connections()
        await self.app._cleanup()


@pytest.fixture
def start_server(
    jp_serverapp: Any, jp_server_config: Config, jp_asyncio_loop: Any, tmp_path: Path
) -> Iterator[Callable[[str], Server]]:
    """Start more servers, each of its own project, on the test server's store and keys;
    keywords override its other ``SecretsExtension`` settings (an OpenBao token file).

    Each is a whole jupyter_server (authentication, the extension's start-up, its own
    database connections), as a team runs one per project.
    """
    servers: list[Server] = []

    def start(project: str, **settings: Any) -> Server:
        config = Config(copy.deepcopy(jp_server_config))
        config.SecretsExtension.project = project
        for name, value in settings.items():
            config.SecretsExtension[name] = value
        token = uuid.uuid4().hex
        config.IdentityProvider.token = token
        root = tmp_path / f"root-{project}-{len(servers)}"
        root.mkdir()
        app = ServerApp(
            config=config,
            root_dir=str(root),
            base_url=f"/{project}/",
            open_browser=False,
            allow_root=True,
        )
        app.init_signal = lambda: None  # type: ignore[method-assign]
        app.initialize(argv=[], new_httpserver=False)
        sockets = bind_sockets(0, "127.0.0.1")
        http = HTTPServer(app.web_app)
        http.add_sockets(sockets)
        port = sockets[0].getsockname()[1]
        server = Server(project, app, http, f"http://127.0.0.1:{port}/{project}", token)
        servers.append(server)
        return server

    yield start
    for server in servers:
        jp_asyncio_loop.run_until_complete(server.stop())


@pytest.fixture
def extension(jp_serverapp: Any) -> SecretsExtension:
    """The running extension of the test server."""
    return jp_serverapp.web_app.settings["jupyterlab_secrets"]


@pytest.fixture
def project_service(extension: SecretsExtension) -> Callable[[str], SecretsService]:
    """The service of another project over the same database and keys as the test server."""

    def make(project: str) -> SecretsService:
        assert extension.store is not None
        return SecretsService(extension.store, project, extension.communities)

    return make


async def snapshot(api: Api) -> tuple[Any, dict[str, str]]:
    """Everything the API shows: the listing, and every value."""
    listing = await api("GET", "secrets")
    assert listing.status == 200
    values = {}
    for meta in listing.body["secrets"]:
        revealed = await api("POST", "secrets", meta["id"], "reveal")
        assert revealed.status == 200
        values[meta["id"]] = revealed.body["value"]
    return listing.body, values


def stored_rows(db_url: str) -> list[Any]:
    """Every row of the secrets table, as the database holds it (to show that a refusal
    changed nothing)."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text("SELECT * FROM secrets ORDER BY id")))
    finally:
        engine.dispose()


@pytest.fixture
def keyring() -> Keyring:
    """A keyring with one fresh key."""
    return Keyring([generate_key()])


def require_or_skip(reason: str) -> None:
    """Skip a test whose service is missing, saying why; in CI (``CI=true``), fail instead:
    no test layer may skip quietly there."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}, and CI=true: start it (see scripts/test-services.sh).")
    pytest.skip(f"{reason}: its tests are skipped (with CI=true they would fail).")


def postgres_reachable() -> bool:
    """Whether the PostgreSQL of our machines answers on 127.0.0.1:5432."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'secrets.db'}"
        return
    if not postgres_reachable():
        require_or_skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    import psycopg
    from sqlalchemy.engine import make_url

    schema = f"test_{uuid.uuid4().hex[:12]}"
    url = make_url(PG_URL)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def backend_config(secrets_config: dict[str, Any], db_url: str) -> dict[str, Any]:
    """The test server's settings on each backend, with the key a team would provide: none is
    made up for a shared store such as PostgreSQL."""
    create_key_file(Path(secrets_config["key_file"]))
    return {**secrets_config, "db_url": db_url}


@pytest.fixture
def sqlite_store(tmp_path: Path, keyring: Keyring) -> Iterator[SqlSecretStore]:
    """A store on SQLite only, for the rules, which do not depend on the backend."""
    opened = SqlSecretStore(
        db_url=f"sqlite:///{tmp_path / 'rules' / 'secrets.db'}", keyring=keyring
    )
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def make_service(sqlite_store: SqlSecretStore) -> Callable[..., SecretsService]:
    """Services of several projects sharing one database, keys and community config;
    keywords are the service's options (``redact_outputs=False``)."""

    def make(project: str, **options: Any) -> SecretsService:
        return SecretsService(sqlite_store, project, COMMUNITIES, **options)

    return make


@pytest.fixture
def break_value(sqlite_store: SqlSecretStore) -> Iterator[Callable[[SecretsService, str], None]]:
    """Make one secret's value undecryptable with the keys of `sqlite_store`, as a server with
    another key would when it writes it (the ciphertext is sound, the key is not there)."""
    other = SqlSecretStore(db_url=sqlite_store.db_url, keyring=Keyring([generate_key()]))

    def spoil(service: SecretsService, secret_id: str) -> None:
        secret = other.get(service.view, secret_id)
        other.update(
            service.view, secret_id, expected_version=secret.version, user="x", value="lost"
        )

    try:
        yield spoil
    finally:
        other.close()


@dataclass
class Outcome:
    """How a ``jupyter secrets`` command ended, and what it printed."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """Everything it printed."""
        return self.stdout + self.stderr


RunCli = Callable[..., Outcome]


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """Run ``jupyter secrets ARGS`` in this process (a subprocess costs seconds of imports):
    ``run_cli("set", "name", stdin="value", env={"BAO_TOKEN": ...})``."""

    def run(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> Outcome:
        with monkeypatch.context() as patch:
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            patch.setattr(sys, "stdin", io.StringIO(stdin))
            capsys.readouterr()
            code = 0
            try:
                cli_main(list(args))
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else 1
            finally:
                # Every command class is a singleton: clear them all for the next run.
                for spec, _ in SUBCOMMANDS.values():
                    import_item(spec).clear_instance()
                SecretsApp.clear_instance()
            captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run
