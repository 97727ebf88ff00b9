"""A crash loses nothing acknowledged: SIGKILL a live server while writes are in flight.

A real ``jupyter server`` takes 1,000 creates and edits, about 20 at a time. When most of
them have been answered, it is killed with SIGKILL (no shutdown handler runs, as in an OOM
kill), started again on the same store, and every write that was answered 201 or 200 must be
there with the value it was acknowledged with (or a later one the client sent), and decrypt.
The store must pass its integrity check.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from jupyterlab_secrets.crypto import encode_key, generate_key

from .live import LiveServer

OPERATIONS = 1_000
IN_FLIGHT = 20
EDITS_PER_CREATE = 4
KILL_AFTER = 600
"""Acknowledged writes before the kill: well into the run, with requests still in flight."""


@dataclass
class Tracked:
    """What the client knows of one secret: its last acknowledged state, and what it sent
    after that without an answer (a write may commit and still lose its answer)."""

    name: str
    secret_id: str | None = None
    acked_version: int = 0
    acked_value: str | None = None
    unanswered: list[str] = field(default_factory=list)
    version: int = 0


@dataclass
class Run:
    """The whole run's bookkeeping."""

    server: LiveServer
    secrets: list[Tracked] = field(default_factory=list)
    sent: int = 0
    acked: int = 0
    failed: int = 0
    in_flight_at_kill: int = 0
    in_flight: int = 0
    killed: bool = False
    refused: list[str] = field(default_factory=list)


async def _write(
    run: Run, client: httpx.AsyncClient, method: str, url: str, body: dict[str, Any]
) -> httpx.Response | None:
    """Send one write; None when it got no answer (the server died under it)."""
    run.sent += 1
    run.in_flight += 1
    try:
        return await client.request(method, url, json=body)
    except httpx.TransportError:
        run.failed += 1
        return None
    finally:
        run.in_flight -= 1


def _after_ack(run: Run) -> None:
    run.acked += 1
    if run.acked == KILL_AFTER and not run.killed:
        run.killed = True
        run.in_flight_at_kill = run.in_flight
        run.server.kill()


async def _worker(run: Run, client: httpx.AsyncClient, worker: int, count: int) -> None:
    """Create a secret, edit it a few times, create the next one; stop when the server is gone."""
    current: Tracked | None = None
    for step in range(count):
        if run.killed and run.server.process is not None and run.server.process.poll() is not None:
            return
        if current is None or step % (EDITS_PER_CREATE + 1) == 0:
            current = Tracked(name=f"w{worker:02d}-s{step:04d}")
            run.secrets.append(current)
            value = f"{current.name}:0:{uuid.uuid4().hex}"
            current.unanswered.append(value)
            reply = await _write(
                run, client, "POST", "secrets", {"name": current.name, "value": value}
            )
            if reply is None:
                return
            if reply.status_code != 201:
                run.refused.append(f"POST -> {reply.status_code}")
                current = None  # it may exist or not: nothing was promised
                continue
            current.secret_id = reply.json()["id"]
            current.version = current.acked_version = reply.json()["version"]
            current.acked_value, current.unanswered = value, []
        else:
            value = f"{current.name}:{step}:{uuid.uuid4().hex}"
            current.unanswered.append(value)
            body = {"version": current.version, "value": value}
            reply = await _write(run, client, "PATCH", f"secrets/{current.secret_id}", body)
            if reply is None:
                return
            if reply.status_code != 200:
                # Not acknowledged, but it may have been written: its value stays allowed.
                run.refused.append(f"PATCH -> {reply.status_code}")
                current = None
                continue
            current.version = current.acked_version = reply.json()["version"]
            current.acked_value, current.unanswered = value, []
        _after_ack(run)


async def _drive(run: Run) -> None:
    async with httpx.AsyncClient(
        base_url=run.server.url,
        headers=run.server.headers,
        timeout=60,
        limits=httpx.Limits(max_connections=IN_FLIGHT),
    ) as client:
        per_worker = OPERATIONS // IN_FLIGHT
        await asyncio.gather(*(_worker(run, client, n, per_worker) for n in range(IN_FLIGHT)))


def _lost(run: Run) -> tuple[list[str], int]:
    """Acknowledged writes that are not there after the restart, and how many were checked."""
    lost = []
    checked = 0
    with httpx.Client(base_url=run.server.url, headers=run.server.headers, timeout=60) as client:
        listing = client.get("secrets")
        assert listing.status_code == 200
        stored = {meta["id"]: meta for meta in listing.json()["secrets"]}
        for secret in run.secrets:
            if secret.secret_id is None:
                continue  # its create was never answered: nothing was promised
            checked += 1
            meta = stored.get(secret.secret_id)
            if meta is None:
                lost.append(f"{secret.name}: acknowledged, then gone")
                continue
            revealed = client.post(f"secrets/{secret.secret_id}/reveal")
            if revealed.status_code != 200:
                lost.append(f"{secret.name}: does not decrypt ({revealed.status_code})")
                continue
            value = revealed.json()["value"]
            allowed = {secret.acked_value, *secret.unanswered}
            if value not in allowed or meta["version"] < secret.acked_version:
                lost.append(
                    f"{secret.name}: holds version {meta['version']}, "
                    f"not the acknowledged {secret.acked_version}"
                )
        # Every stored secret decrypts, also those whose create was never answered.
        for secret_id in stored:
            assert client.post(f"secrets/{secret_id}/reveal").status_code == 200
    return lost, checked


def _integrity(db_url: str) -> str:
    """The store's own integrity check: SQLite's, or PostgreSQL's amcheck on every index."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        with sqlite3.connect(url.database) as connection:
            rows = connection.execute("PRAGMA integrity_check").fetchall()
            assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        return ", ".join(row[0] for row in rows)
    engine = create_engine(db_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS amcheck"))
            indexes = connection.execute(
                text(
                    "SELECT c.oid, c.relname FROM pg_index i"
                    " JOIN pg_class c ON c.oid = i.indexrelid"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " JOIN pg_am a ON a.oid = c.relam"
                    " WHERE n.nspname = current_schema() AND a.amname = 'btree'"
                )
            ).all()
            for oid, _ in indexes:
                connection.execute(text("SELECT bt_index_check(:oid, true)"), {"oid": oid})
            assert indexes
        return f"ok ({len(indexes)} indexes checked)"
    finally:
        engine.dispose()


@pytest.mark.timeout(600)
def test_a_kill_during_writes_loses_nothing_acknowledged(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a live server taking 1,000 creates and edits, about 20 at a time
    server = LiveServer(tmp_path / "server", db_url, encode_key(generate_key())).start()
    run = Run(server)
    try:
        # When it is killed with SIGKILL while writes are in flight, and started again
        asyncio.run(_drive(run))
        assert run.killed, "the run ended before the kill"
        server.start()
        # Then every acknowledged write is there with its value, and decrypts
        lost, checked = _lost(run)
    finally:
        server.stop()
    integrity = _integrity(db_url)
    with capsys.disabled():
        print(
            f"\ncrash on {db_url.split(':', 1)[0]}: {run.sent} writes sent, {run.acked} "
            f"acknowledged, {run.in_flight_at_kill} in flight at the SIGKILL, {run.failed} "
            f"unanswered, {len(run.refused)} answered with an error "
            f"{sorted(set(run.refused))}; {checked} acknowledged secrets checked, {len(lost)} "
            f"lost; integrity: {integrity}"
        )
    assert run.in_flight_at_kill > 0
    assert lost == []
    # And the store passes its integrity check
    assert integrity.startswith("ok")
