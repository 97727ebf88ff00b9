"""Stores opened by backend name, through the entry point group ``jupyterlab_secrets.stores``;
and what each built-in store can do beyond the interface (its optional abilities)."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from jupyterlab_secrets.config import (
    BUILT_IN_BACKENDS,
    STORES_GROUP,
    SecretsSettings,
    open_secrets,
    open_store,
    store_backends,
)
from jupyterlab_secrets.crypto import create_key_file
from jupyterlab_secrets.errors import UnavailableError
from jupyterlab_secrets.stores.base import (
    KeyCheck,
    KeyRotation,
    SecretImport,
    SharingPolicy,
    View,
)
from jupyterlab_secrets.stores.sql import SqlSecretStore

ROOT = Path(__file__).resolve().parents[2]

Register = Callable[[str, str], None]

THIRD_PARTY = textwrap.dedent(
    '''
    """A store backend of another package: the SQL store on the file its URL names."""

    from sqlalchemy.engine import make_url

    from jupyterlab_secrets.crypto import Keyring, parse_keys
    from jupyterlab_secrets.stores.sql import SqlSecretStore

    opened = []


    class FileStore(SqlSecretStore):
        """The SQL store under another name."""


    def open_store(settings, *, create_key=True):
        path = make_url(settings.db_url).database
        with open(settings.key_file, encoding="utf-8") as key_file:
            keyring = Keyring(parse_keys(key_file.read()))
        opened.append(create_key)
        return FileStore(db_url=f"sqlite:///{path}", keyring=keyring, parent=settings)


    def open_nothing(settings, *, create_key=True):
        return object()
    '''
)


@pytest.fixture
def register(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Register:
    """Install a package (a module and its dist-info) on ``sys.path`` for this test only:
    ``register("name = module:callable", source)``."""
    count = 0

    def install(entry_points: str, source: str) -> None:
        nonlocal count
        count += 1
        site = tmp_path / f"site-{count}"
        module = f"third_party_store_{count}"
        info = site / f"{module}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(
            f"[{STORES_GROUP}]\n" + entry_points.replace("MODULE", module) + "\n"
        )
        (site / f"{module}.py").write_text(source)
        monkeypatch.syspath_prepend(str(site))
        monkeypatch.delitem(sys.modules, module, raising=False)

    return install


def settings_for(tmp_path: Path, **traits: object) -> SecretsSettings:
    """Settings of a SQLite store under ``tmp_path``, unless ``traits`` say otherwise."""
    defaults = {
        "db_url": f"sqlite:///{tmp_path / 'db' / 'secrets.db'}",
        "key_file": str(tmp_path / "db" / "key"),
    }
    return SecretsSettings(**{**defaults, **traits})


@pytest.mark.parametrize(
    ("traits", "backend"),
    [
        ({"db_url": "sqlite:////srv/secrets.db"}, "sqlite"),
        ({"db_url": "postgresql+psycopg://secrets@db/secrets"}, "postgresql"),
        ({"db_url": "postgresql://secrets@db/secrets"}, "postgresql"),
        ({"openbao_url": "http://127.0.0.1:8200"}, "openbao"),
        ({"openbao_url": "http://bao", "db_url": "postgresql://db/secrets"}, "openbao"),
        ({}, "sqlite"),
    ],
)
def test_every_existing_configuration_chooses_its_backend(
    traits: dict[str, str], backend: str
) -> None:
    assert SecretsSettings(**traits).store_backend() == backend


def test_the_built_in_backends_are_those_the_package_registers() -> None:
    # Given the entry points pyproject.toml declares
    tomllib = pytest.importorskip("tomllib", reason="tomllib comes with Python 3.11")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    # Then the code knows the same built-in backends (for an install whose metadata is older)
    assert declared[STORES_GROUP] == BUILT_IN_BACKENDS
    # And each of them loads, and opens with the settings alone
    for name, entry in store_backends().items():
        if name in BUILT_IN_BACKENDS:
            assert callable(entry.load()), name


def test_a_backend_of_another_package_is_opened_by_name(register: Register, tmp_path: Path) -> None:
    # Given a package registering the backend "filestore", and a key
    register("filestore = MODULE:open_store", THIRD_PARTY)
    settings = settings_for(tmp_path, db_url=f"filestore:///{tmp_path / 'third.db'}")
    create_key_file(Path(settings.key_file))
    # When the store of the settings is opened (chosen by the scheme of db_url)
    opened = open_secrets(settings, create_key=False)
    try:
        # Then it is that package's store, and the service works on it
        assert type(opened.store).__name__ == "FileStore"
        assert sys.modules["third_party_store_1"].opened == [False]
        meta = opened.service.create("alice", "from-elsewhere", "its-value")
        assert opened.service.reveal("alice", meta.id) == "its-value"
    finally:
        opened.store.close()
    # And it is opened by its name too, whatever db_url's scheme
    again = open_store(settings_for(tmp_path), backend="filestore")
    try:
        assert type(again).__name__ == "FileStore"
        assert again.list(opened.service.view) == []
    finally:
        again.close()
    assert "filestore" in store_backends()


def test_an_unknown_backend_is_refused_saying_which_there_are(tmp_path: Path) -> None:
    # Given settings naming a backend nobody registered
    settings = settings_for(tmp_path, db_url="mysql+pymysql://root:hunter2@db/secrets")
    # When its store is opened
    with pytest.raises(UnavailableError) as refused:
        open_secrets(settings)
    # Then the message names it and the known ones, never the password; nothing was created
    message = refused.value.message
    assert "No store backend is named 'mysql'" in message
    assert "openbao, postgresql, sqlite" in message and "jupyterlab_secrets.stores" in message
    assert "hunter2" not in message
    assert not (tmp_path / "db").exists()
    # And the same by name
    with pytest.raises(UnavailableError, match="No store backend is named 'nosuch'"):
        open_store(settings_for(tmp_path), backend="nosuch")


def test_a_backend_that_opens_no_store_or_cannot_load_is_refused(
    register: Register, tmp_path: Path
) -> None:
    # Given backends whose entry point opens something else, or names nothing there is
    register("nothing = MODULE:open_nothing\nmissing = MODULE:no_such_callable", THIRD_PARTY)
    # When they are opened, then each is refused saying why
    with pytest.raises(UnavailableError, match="'nothing' .* did not open a SecretStore"):
        open_store(settings_for(tmp_path), backend="nothing")
    with pytest.raises(UnavailableError, match="'missing' cannot be loaded"):
        open_store(settings_for(tmp_path), backend="missing")


def test_a_name_two_packages_register_differently_is_refused(
    register: Register, tmp_path: Path
) -> None:
    # Given a package that registers "sqlite" as its own
    register("sqlite = MODULE:open_store", THIRD_PARTY)
    # When a store is opened, then it is refused rather than one of them chosen by chance
    with pytest.raises(UnavailableError, match="'sqlite' is registered more than once"):
        open_store(settings_for(tmp_path))


def test_the_sql_store_has_the_key_abilities_only(tmp_path: Path) -> None:
    # Given the SQL store, opened by its backend name
    settings = settings_for(tmp_path)
    store = open_store(settings)
    try:
        # Then it checks and rotates the master keys, and leaves sharing to the configuration
        assert isinstance(store, SqlSecretStore)
        assert store.ability(KeyCheck) is store
        rotation = store.ability(KeyRotation)
        assert rotation is store and rotation.primary_key_id == store.keyring.primary_key_id
        assert store.ability(SharingPolicy) is None
        assert store.ability(SecretImport) is None
        assert store.audit_log() is not None
    finally:
        store.close()


def test_the_openbao_store_decides_sharing_imports_and_keeps_a_log_but_no_keys() -> None:
    pytest.importorskip("hvac", reason="the OpenBao store needs hvac (the openbao extra)")
    from jupyterlab_secrets.stores.openbao import OpenBaoSecretStore

    # Given the OpenBao store (nothing is asked of OpenBao to know what it can do)
    store = OpenBaoSecretStore(url="http://127.0.0.1:9", token="t", mount="m")
    try:
        # Then its policy decides sharing, it imports, keeps an audit log (on the mount), and
        # neither checks nor rotates keys
        assert store.ability(SharingPolicy) is store
        assert store.ability(SecretImport) is store
        assert store.ability(KeyCheck) is None
        assert store.ability(KeyRotation) is None
        assert store.audit_log() is not None
    finally:
        store.close()


def test_a_migration_refuses_a_target_that_cannot_import(tmp_path: Path) -> None:
    pytest.importorskip("hvac", reason="the migration into OpenBao needs hvac (the openbao extra)")
    from jupyterlab_secrets.stores.openbao.migration import migrate_to_openbao

    # Given a SQL store holding a secret, and another SQL store as the target
    source = open_store(settings_for(tmp_path / "source"))
    target = open_store(settings_for(tmp_path / "target"))
    try:
        source.create(View("default"), name="kept", value="its-value", user="alice")
        # When a migration is asked into a store that cannot import secrets
        with pytest.raises(UnavailableError, match="cannot import secrets"):
            migrate_to_openbao(source, target, project="default", communities={})
        # Then nothing was copied, and the source is as it was
        assert target.list(View("default")) == []
        assert [s.name for s in source.list(View("default"))] == ["kept"]
    finally:
        source.close()
        target.close()
