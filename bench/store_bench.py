"""What the SQL store's reads cost as the number of secrets grows, on SQLite (and PostgreSQL).

A poll asks `SqlSecretStore.change_marker` every few seconds per server, so it must cost the same
at 100 secrets as at 10,000: it reads a few counter rows. Beside it, in the same run and on the
same database, `list` (every secret's metadata) is the baseline that grows with the rows, and
`get` (one secret) the floor. Prints p50/p95 in ms for each size.

    python bench/store_bench.py [--sizes 100,1000,10000] [--repeat 200] [--postgresql URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
from sqlalchemy import insert
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jupyterlab_secrets.crypto import Keyring, generate_key  # noqa: E402
from jupyterlab_secrets.stores.base import View  # noqa: E402
from jupyterlab_secrets.stores.sql import SqlSecretStore  # noqa: E402
from jupyterlab_secrets.stores.sql_schema import SecretRow  # noqa: E402

VIEW = View("bench", ("team",))


def fill(store: SqlSecretStore, keyring: Keyring, rows: int) -> str:
    """Add secrets up to ``rows`` in one transaction (no counters needed); return one ID."""
    now = dt.datetime.now(dt.timezone.utc)
    batch = []
    for index in range(len(store.list(VIEW)), rows):
        secret_id = uuid.uuid4().hex
        sealed = keyring.encrypt(b"value", project=VIEW.project, secret_id=secret_id)
        batch.append(
            {
                "id": secret_id,
                "project": VIEW.project,
                "name": f"secret-{index:05d}",
                "ciphertext": sealed.ciphertext,
                "nonce": sealed.nonce,
                "key_id": sealed.key_id,
                "created_by": "bench",
                "created_at": now,
                "updated_at": now,
                "updated_by": "bench",
                "version": 1,
                "value_length": 5,
            }
        )
    if batch:
        with store.engine.begin() as connection:
            connection.execute(insert(SecretRow), batch)
    return store.list(VIEW)[0].id


def timed(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """p50 and p95 of ``call`` in ms."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def run(label: str, url: str, sizes: list[int], repeat: int) -> None:
    keyring = Keyring([generate_key()])
    store = SqlSecretStore(url, keyring)
    try:
        store.create(VIEW, name="counted", value="v", user="bench")  # a counter to read
        print(f"\n{label}: p50 / p95 in ms")
        print(f"{'secrets':>8} {'change_marker':>16} {'get (floor)':>16} {'list (baseline)':>18}")
        for size in sizes:
            one = fill(store, keyring, size)
            marker = timed(lambda: store.change_marker(VIEW), repeat)
            get = timed(lambda one=one: store.get(VIEW, one), repeat)
            listing = timed(lambda: store.list(VIEW), max(5, repeat // 20))
            print(
                f"{size:>8} {marker[0]:>8.2f} /{marker[1]:>6.2f} {get[0]:>8.2f} /{get[1]:>6.2f}"
                f" {listing[0]:>10.2f} /{listing[1]:>6.2f}"
            )
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--postgresql", default="", help="a PostgreSQL URL to measure too")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        run("SQLite", f"sqlite:///{Path(folder) / 'secrets.db'}", sizes, args.repeat)
    if args.postgresql:
        url = make_url(args.postgresql)
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{schema}"')
        try:
            scoped = url.update_query_dict({"options": f"-csearch_path={schema}"})
            run("PostgreSQL", scoped.render_as_string(hide_password=False), sizes, args.repeat)
        finally:
            with psycopg.connect(dsn, autocommit=True) as connection:
                connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
