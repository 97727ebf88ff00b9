"""JupyterHub: the hub decides who works in which project, and holds no secret.

In ``jupyterhub_config.py``::

    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.load_groups = {"proj-a": {"users": ["alice", "bob"]}}
    from jupyterlab_secrets.hub import configure_hub
    configure_hub(c)
    c.SecretsHub.openbao_url = "https://bao.internal:8200"
    c.SecretsHub.token_file = "/etc/jupyterhub/bao-token"
    c.SecretsHub.communities = {"ml-team": {"admins": ["alice"], "projects": ["proj-a"]}}

A project is a hub group, and a named server is one project (``/user/alice/proj-a/``). Before
a server starts, the hub checks that its user is a member of the project's group, mints one
OpenBao token for it through the token role ``jupyterlab-secrets`` with exactly that user's
policies for that project (`server_policies`), and writes it to a file only the server's
user may read, whose path it passes to the server. While the server runs the hub renews the
token; when it stops the hub revokes it. The hub's own token may do only that (the policy
``jupyterlab-secrets-hub``, written by ``jupyter secrets openbao-setup``): it reads no secret.

`configure_hub` works with any spawner and authenticator: it chains its hooks with the
operator's ``Spawner.pre_spawn_hook`` and ``post_stop_hook`` (set before or after it), and
adds its arguments to the operator's ``Spawner.args`` at each spawn. It sets nothing in
``Spawner.environment``: the token is never in an environment or on a command line.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import secrets
import stat
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tornado import web
from tornado.ioloop import PeriodicCallback
from traitlets import Dict, Float, Unicode, default, validate
from traitlets.config import Config, SingletonConfigurable

from .config import validate_communities
from .errors import InvalidInputError
from .stores.openbao.layout import check_segment
from .stores.openbao.policies import TOKEN_ROLE, server_policies

HOOKS = ("pre_spawn_hook", "post_stop_hook")
_CHAINED = "_jupyterlab_secrets_chained"


@dataclass
class ServerToken:
    """What the hub keeps of one running server's token: never the token itself."""

    user: str
    server: str
    project: str
    accessor: str
    token_file: str


class SpawnRefused(web.HTTPError):
    """A spawn the hub refuses, with the reason shown to the user (the page and the API)."""

    def __init__(self, message: str) -> None:
        super().__init__(403, "%s", message)
        self.jupyterhub_message = message


class SecretsHub(SingletonConfigurable):
    """The settings of the hub's part (``c.SecretsHub.*``) and the tokens of running servers."""

    openbao_url = Unicode(
        "",
        config=True,
        help=(
            "The OpenBao (or Vault) address the servers use, or several separated by commas "
            "(nodes of one cluster, tried in turn). Passed to each server."
        ),
    )

    openbao_mount = Unicode(
        "jupyterlab-secrets",
        config=True,
        help="The KV v2 mount that holds the secrets. Passed to each server.",
    )

    token_file = Unicode(
        "",
        config=True,
        help=(
            "A file holding the hub's own OpenBao token, with the policy jupyterlab-secrets-hub: "
            "it may mint server tokens through the token role jupyterlab-secrets, look them up, "
            "renew and revoke them, and read no secret. Read at each use, so it can be replaced."
        ),
    )

    communities = Dict(
        config=True,
        help=(
            "Communities of projects, with their admins, as SecretsExtension.communities: "
            '{"ml-team": {"admins": ["alice"], "projects": ["proj-a", "proj-b"]}}. Decides '
            "which member and admin policies a server's token gets; passed to each server."
        ),
    )

    token_dir = Unicode(
        config=True,
        help=(
            "The folder (mode 0711, the hub's) where the hub writes each server's token, in a "
            "subfolder per user (mode 0700, the server's user's), in a file of mode 0600 that "
            "the server reads at start. It must be on a file system the server sees."
        ),
    )

    state_file = Unicode(
        "jupyterlab_secrets_hub.json",
        config=True,
        help=(
            "Where the hub keeps the accessors of running servers' tokens (never a token), so "
            "that after a restart it goes on renewing them and revokes them when they stop. "
            "Relative to the hub's working directory."
        ),
    )

    renew_interval = Float(
        600.0,
        config=True,
        help=(
            "Seconds between two renewals of the running servers' tokens; well under the "
            "token role's period (one hour, as openbao-setup writes it)."
        ),
    )

    @default("token_dir")
    def _default_token_dir(self) -> str:
        return os.path.join(tempfile.gettempdir(), f"jupyterlab-secrets-{os.getuid()}")

    @validate("communities")
    def _validate_communities(self, proposal: Any) -> dict[str, dict[str, list[str]]]:
        return validate_communities(proposal["value"])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.servers: dict[str, ServerToken] = {}
        """The tokens of the servers started through this hub, by ``user/server``."""
        self._renewer: PeriodicCallback | None = None
        self._loaded = False
        self._cluster: tuple[str, Any] | None = None
        """``openbao_url`` and the cluster client state kept for it (which node answered)."""

    # -- the hooks ---------------------------------------------------------------------

    async def pre_spawn(self, spawner: Any) -> None:
        """Refuse a spawn outside the user's projects; else mint the server's token, write
        it to its file, and pass the server its project, communities and token file."""
        self.start()
        user = spawner.user.name
        project = self.project_of(spawner)
        if not self.openbao_url:
            raise SpawnRefused("The hub is not set up for secrets: set SecretsHub.openbao_url.")
        try:
            policies = server_policies(user, project, self.communities)
        except InvalidInputError as error:
            raise SpawnRefused(error.message) from None
        key = _key(user, spawner.name)
        stale = self.servers.get(key)
        if stale is not None:
            # A spawn after a stop the hook did not see: that token must not live on.
            await self._revoke(stale)
        try:
            minted = await asyncio.to_thread(
                self._call,
                lambda client: client.auth.token.create(
                    role_name=TOKEN_ROLE,
                    policies=policies,
                    meta={"user": user, "project": project},
                    display_name=f"jupyterhub-{user}-{project}",
                ),
            )
        except Exception as error:
            self.log.error("Cannot mint the OpenBao token of %s: %s", key, _reason(error))
            raise SpawnRefused(
                f"Your server for project {project} cannot get its OpenBao token: "
                f"{_reason(error)}. Ask the hub's operator."
            ) from None
        accessor = minted["auth"]["accessor"]
        try:
            path = self.write_token(spawner, minted["auth"]["client_token"])
        except Exception:
            await asyncio.to_thread(
                self._call, lambda client: client.auth.token.revoke_accessor(accessor)
            )
            raise
        self.servers[key] = ServerToken(user, spawner.name, project, accessor, str(path))
        self._save()
        _set_args(
            spawner,
            [
                f"--SecretsExtension.project={project}",
                f"--SecretsExtension.openbao_url={self.openbao_url}",
                f"--SecretsExtension.openbao_mount={self.openbao_mount}",
                f"--SecretsExtension.openbao_token_file={path}",
                f"--SecretsExtension.communities={json.dumps(self.communities)}",
                f"--SecretsExtension.owner={user}",
            ],
        )
        self.log.info(
            "Minted the OpenBao token of %s (project %s, accessor %s, policies %s)",
            key,
            project,
            accessor,
            ", ".join(policies),
        )

    async def post_stop(self, spawner: Any) -> None:
        """Revoke the stopped server's token and remove its file. Never raises: a failure is
        logged, and the token dies at the end of its period, unrenewed."""
        self.start()
        held = self.servers.get(_key(spawner.user.name, spawner.name))
        if held is not None:
            await self._revoke(held)
        _set_args(spawner, [])

    # -- projects ----------------------------------------------------------------------

    def project_of(self, spawner: Any) -> str:
        """The project of a spawn: its server's name, which must be one of the user's groups;
        for the default server, the user's only group. Else raise `SpawnRefused`."""
        user = spawner.user.name
        groups = sorted(group.name for group in spawner.user.groups)
        if spawner.name:
            project = spawner.name
            try:
                check_segment("project", project)
            except InvalidInputError as error:
                raise SpawnRefused(error.message) from None
            if project in groups:
                return project
            mine = ", ".join(groups) or "none"
            raise SpawnRefused(
                f"{user} is not a member of the group {project}, so cannot start a server for "
                f"project {project}. A server's name is its project; {user}'s projects: {mine}."
            )
        if len(groups) == 1:
            return groups[0]
        if not groups:
            raise SpawnRefused(
                f"{user} is in no project: ask the hub's admin to add you to a project's group."
            )
        raise SpawnRefused(
            f"{user} is in several projects ({', '.join(groups)}): start a named server "
            f"whose name is the project, such as /user/{user}/{groups[0]}/."
        )

    # -- the token file ----------------------------------------------------------------

    def server_uid(self, spawner: Any) -> tuple[int, int]:
        """The (uid, gid) the server runs as: the user's system account under
        LocalProcessSpawner, else the hub's own (SimpleLocalProcessSpawner and others)."""
        from jupyterhub.spawner import LocalProcessSpawner, SimpleLocalProcessSpawner

        if isinstance(spawner, LocalProcessSpawner) and not isinstance(
            spawner, SimpleLocalProcessSpawner
        ):
            account = pwd.getpwnam(spawner.user.name)
            return account.pw_uid, account.pw_gid
        return os.getuid(), os.getgid()

    def write_token(self, spawner: Any, token: str) -> Path:
        """Write ``token`` to a new file of mode 0600 in the user's folder (mode 0700) under
        `token_dir`, both owned by the server's user; return its path."""
        uid, gid = self.server_uid(spawner)
        base = Path(self.token_dir)
        if _made(base, 0o711):
            base.chmod(0o711)  # whatever the umask: every server's user passes through it
        _check_private(base, os.getuid(), writable_by_others=False)
        folder = base / quote(spawner.user.name, safe="")
        if _made(folder, 0o700) and uid != os.getuid():
            os.chown(folder, uid, gid)
        _check_private(folder, uid, writable_by_others=False, readable_by_others=False)
        name = f"{quote(spawner.name or 'default', safe='')}-{secrets.token_hex(8)}.token"
        path = folder / name
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            if uid != os.getuid():
                os.fchown(descriptor, uid, gid)
            os.write(descriptor, token.encode())
        finally:
            os.close(descriptor)
        return path

    # -- renewal -----------------------------------------------------------------------

    def start(self) -> None:
        """Load the tokens of running servers and renew them every `renew_interval`
        seconds, once the hub's event loop runs. Idempotent."""
        if not self._loaded:
            self._loaded = True
            self._load()
        if self._renewer is None:
            self._renewer = PeriodicCallback(self.renew, self.renew_interval * 1000)
            self._renewer.start()
            self.log.info(
                "Renewing the OpenBao tokens of running servers every %s s (%d held in %s)",
                self.renew_interval,
                len(self.servers),
                self.state_file,
            )

    def stop(self) -> None:
        """Stop renewing (tests)."""
        if self._renewer is not None:
            self._renewer.stop()
            self._renewer = None

    async def renew(self) -> None:
        """Renew every running server's token, forgetting those OpenBao no longer knows, and
        the hub's own token when it is renewable (its ``default`` policy allows it)."""
        try:
            await asyncio.to_thread(self._call, _renew_self)
        except Exception as error:
            self.log.debug("The hub's own OpenBao token was not renewed: %s", _reason(error))
        for key, held in list(self.servers.items()):
            try:
                await asyncio.to_thread(
                    self._call, lambda client, a=held.accessor: client.auth.token.renew_accessor(a)
                )
            except Exception as error:
                if _gone(error):
                    self.log.warning("The OpenBao token of %s is gone: %s", key, _reason(error))
                    self.servers.pop(key, None)
                    self._save()
                else:
                    self.log.warning(
                        "Cannot renew the OpenBao token of %s: %s", key, _reason(error)
                    )

    async def _revoke(self, held: ServerToken) -> None:
        key = _key(held.user, held.server)
        try:
            await asyncio.to_thread(
                self._call, lambda client: client.auth.token.revoke_accessor(held.accessor)
            )
            self.log.info("Revoked the OpenBao token of %s (accessor %s)", key, held.accessor)
        except Exception as error:
            if not _gone(error):
                self.log.error(
                    "Cannot revoke the OpenBao token of %s (accessor %s): %s; it expires "
                    "unrenewed.",
                    key,
                    held.accessor,
                    _reason(error),
                )
        self.servers.pop(key, None)
        try:
            Path(held.token_file).unlink(missing_ok=True)
            self._save()
        except OSError as error:
            self.log.error("Cannot clean up after the server %s: %s", key, error)

    # -- OpenBao and the state file ----------------------------------------------------

    def _call(self, request: Callable[[Any], Any]) -> Any:
        """``request(client)`` with the hub's token, through the store's cluster client: the
        nodes of ``openbao_url`` in turn (starting with the one that answered last), and
        idempotent requests retried on a failed election, as the servers' own store does."""
        from .stores.openbao.kv import Cluster, connect

        token = Path(self.token_file).expanduser().read_text(encoding="utf-8").strip()
        if self._cluster is None or self._cluster[0] != self.openbao_url:
            self._cluster = (self.openbao_url, Cluster(self.openbao_url, self.log))
        client = connect(self._cluster[1], token)
        try:
            return request(client)
        finally:
            client.adapter.close()

    def _load(self) -> None:
        path = Path(self.state_file)
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as error:
            self.log.error("Cannot read %s: %s", path, error)
            return
        for key, entry in stored.items():
            self.servers[key] = ServerToken(**entry)

    def _save(self) -> None:
        path = Path(self.state_file)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump({key: asdict(held) for key, held in self.servers.items()}, file, indent=1)
        os.replace(temporary, path)


def configure_hub(c: Config) -> None:
    """Make a JupyterHub decide the projects and mint the OpenBao tokens of its servers.

    Chains `SecretsHub`'s hooks with the operator's ``pre_spawn_hook`` and ``post_stop_hook``
    of ``c.Spawner`` (and of any more specific spawner section already in ``c``), whether they
    are set before or after this call: the operator's pre-spawn hook runs first, then the
    hub's; the hub's post-stop hook runs first (the token is revoked even if the operator's
    fails), then the operator's. Settings are read from ``c.SecretsHub``.
    """
    section = c.Spawner
    chained = _ChainingSection()
    for name, value in section.items():
        chained[name] = value
    for hook in HOOKS:
        if hook not in chained:
            chained[hook] = None
    c.Spawner = chained
    for name in list(c.keys()):
        if name != "Spawner" and name.endswith("Spawner"):
            for hook in HOOKS:
                if hook in c[name]:
                    c[name][hook] = _chain(hook, c[name][hook])
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    # Once the config file is read: renew the tokens of servers that outlived a restart.
    loop.call_soon(lambda: SecretsHub.instance(config=c).start())


class _ChainingSection(Config):
    """``c.Spawner``: a hook assigned to it is chained with the hub's, never replacing it."""

    def __setitem__(self, key: str, value: Any) -> None:
        if key in HOOKS:
            value = _chain(key, value)
        super().__setitem__(key, value)


def _chain(hook: str, operator: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    """The operator's hook (or None) chained with the hub's; a chained hook is kept as is."""
    if getattr(operator, _CHAINED, False):
        return operator  # type: ignore[return-value]

    async def run_operator(spawner: Any) -> None:
        if operator is not None:
            result = operator(spawner)
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                await result

    if hook == "pre_spawn_hook":

        async def chained(spawner: Any) -> None:
            await run_operator(spawner)
            await SecretsHub.instance(config=spawner.config).pre_spawn(spawner)

    else:

        async def chained(spawner: Any) -> None:
            try:
                await SecretsHub.instance(config=spawner.config).post_stop(spawner)
            finally:
                await run_operator(spawner)

    setattr(chained, _CHAINED, True)
    chained.operator_hook = operator  # type: ignore[attr-defined]
    return chained


def _set_args(spawner: Any, ours: list[str]) -> None:
    """Replace the arguments the hub added at the last spawn with ``ours``, keeping the
    operator's (ours come last, so the hub's project and token file win)."""
    previous = getattr(spawner, "_jupyterlab_secrets_args", [])
    args = list(spawner.args)
    for arg in previous:
        if arg in args:
            del args[len(args) - 1 - args[::-1].index(arg)]
    spawner.args = [*args, *ours]
    spawner._jupyterlab_secrets_args = ours


def _made(path: Path, mode: int) -> bool:
    """Make the folder ``path`` (and its parents) unless it exists; whether it was made."""
    try:
        path.mkdir(mode=mode, parents=True)
    except FileExistsError:
        return False
    return True


def _key(user: str, server: str) -> str:
    return f"{user}/{server}"


def _check_private(
    path: Path, uid: int, *, writable_by_others: bool, readable_by_others: bool = True
) -> None:
    """Refuse a folder that is a link, another user's, or open to others where it must not."""
    info = os.lstat(path)
    problems = []
    if not stat.S_ISDIR(info.st_mode):
        problems.append("is not a folder")
    if info.st_uid != uid:
        problems.append(f"belongs to uid {info.st_uid}, not {uid}")
    if not writable_by_others and info.st_mode & 0o022:
        problems.append("is writable by others")
    if not readable_by_others and info.st_mode & 0o077:
        problems.append("is open to others")
    if problems:
        raise SpawnRefused(
            f"The hub's token folder {path} {' and '.join(problems)}; fix SecretsHub.token_dir."
        )


def _renew_self(client: Any) -> None:
    """Renew the client's token if it is renewable and expires."""
    token = client.auth.token.lookup_self()["data"]
    if token.get("renewable") and token.get("ttl"):
        client.auth.token.renew_self()


def _gone(error: BaseException) -> bool:
    """Whether OpenBao said the token no longer exists."""
    return "invalid accessor" in str(error) or "bad token" in str(error)


def _reason(error: BaseException) -> str:
    """OpenBao's reason, on one line, without the request's URL."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text.split(", on ")[0]
