"""What the audit log's chain and the operator's signatures cost, beside a server's append.

For each size (``--events``, default 10,000 and 100,000) a fresh SQLite database (or, with
``--postgresql URL``, a temporary schema of that database) is filled with a chained log, then
timed: a server's append of one event (the baseline: what every change pays), a full
``verify``, and ``sign`` (the operator's ``--anchor``: a full verify outside the chain's lock,
then, under it, a check of what was appended since and the signed event), with how long it
holds the chain's lock, while servers' appends wait.

    python bench/audit_bench.py [--events 10000 100000] [--postgresql URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jupyterlab_secrets.audit import AuditEntry  # noqa: E402
from jupyterlab_secrets.audit_keys import AuditSigner, PublicKeys  # noqa: E402
from jupyterlab_secrets.crypto import Keyring, generate_key  # noqa: E402
from jupyterlab_secrets.stores.sql import SqlSecretStore  # noqa: E402
from jupyterlab_secrets.stores.sql_audit import GENESIS, event_hash  # noqa: E402
from jupyterlab_secrets.stores.sql_schema import AuditEventRow  # noqa: E402

BATCH = 5000


@contextmanager
def database(postgresql: str | None) -> Iterator[str]:
    """A fresh database URL: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if postgresql is None:
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{directory}/secrets.db"
        return
    import psycopg

    url = make_url(postgresql)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def fill(store: SqlSecretStore, count: int) -> None:
    """``count`` chained events, as servers would have recorded them (inserted in batches)."""
    previous = GENESIS
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)
    table = AuditEventRow.__table__
    for first in range(0, count, BATCH):
        rows = []
        for index in range(first, min(count, first + BATCH)):
            row = {
                "id": uuid.uuid4().hex,
                "at": start + dt.timedelta(seconds=index),
                "user": f"user-{index % 50}",
                "project": f"proj-{index % 10}",
                "server_project": f"proj-{index % 10}",
                "action": "reveal",
                "secret_id": uuid.uuid4().hex,
                "secret_name": f"secret-{index % 1000}",
                "detail": json.dumps({}),
                "key_id": None,
                "prev_mac": None,
                "mac": None,
                "prev_hash": previous,
            }
            row["hash"] = previous = event_hash(row)
            rows.append(row)
        with store.engine.begin() as connection:
            connection.execute(table.insert(), rows)


def timed(call: Callable[[], object]) -> float:
    """Seconds one call takes."""
    began = time.perf_counter()
    call()
    return time.perf_counter() - began


def measure(db_url: str, count: int) -> dict[str, float]:
    """The figures for one log of ``count`` events."""
    store = SqlSecretStore(db_url=db_url, keyring=Keyring([generate_key()]))
    try:
        fill(store, count)
        audit = store.audit
        entry = AuditEntry("alice", "proj-0", "proj-0", "reveal", "a" * 32, "secret-0")
        appends = [timed(lambda: audit.append(entry)) for _ in range(200)]
        signer = AuditSigner(Ed25519PrivateKey.generate())
        check = PublicKeys([signer.public])
        verify = timed(lambda: audit.verify(check))
        # When the chain's lock is first asked for (appends wait from then until the commit)
        locked: list[float] = []
        lock = audit._lock

        def stamped_lock(connection: object) -> None:
            locked.append(time.perf_counter())
            lock(connection)

        audit._lock = stamped_lock  # type: ignore[method-assign]
        sign = timed(lambda: audit.sign(signer, check, user="olivia", server_project="proj-0"))
        under_lock = time.perf_counter() - locked[0]
        audit._lock = lock  # type: ignore[method-assign]
        verify_signed = timed(lambda: audit.verify(check))
        with store.engine.connect() as connection:
            total = connection.execute(text("SELECT count(*) FROM audit_events")).scalar()
        assert total == count + 201
        return {
            "append_p50": statistics.median(appends),
            "verify": verify,
            "sign": sign,
            "under_lock": under_lock,
            "verify_signed": verify_signed,
        }
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--postgresql", help="a PostgreSQL URL to measure instead of SQLite")
    args = parser.parse_args()
    where = "PostgreSQL" if args.postgresql else "SQLite"
    print(f"Audit log on {where}: seconds (a server's append of one event is the baseline)")
    print(f"{'events':>9} {'append p50':>11} {'verify':>9} {'anchor':>9} {'under lock':>11}")
    for count in args.events:
        with database(args.postgresql) as db_url:
            figures = measure(db_url, count)
        print(
            f"{count:>9,} {figures['append_p50']:>11.4f} {figures['verify']:>9.3f} "
            f"{figures['sign']:>9.3f} {figures['under_lock']:>11.4f}"
        )


if __name__ == "__main__":
    main()
