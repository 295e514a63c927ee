"""PgBouncer in front of a throwaway PostgreSQL cluster, for ``dagster_refresh.py --pgbouncer``.

``dagster-postgres`` opens a new connection for every event-log write (its engines use
SQLAlchemy's ``NullPool``), so each write pays a server process and a SCRAM handshake.
The usual remedy is a pooler between Dagster and the database: PgBouncer in session
mode keeps server connections open across the client's short-lived ones. Debian's
``pgbouncer`` package is installed when missing (as ``scripts/ui_check.py`` installs
Chromium: a benchmark's tool, not a test dependency).

No password is written to disk: the auth file holds the role's SCRAM verifier, read
from the server, and PgBouncer authenticates to the server with the keys of the
client's own SCRAM exchange.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2

from lairs_etl.localpds import free_port
from tests.fixtures.postgres import PostgresServer

_SYSTEM_USER = "postgres"


def _binary() -> str:
    for candidate in (shutil.which("pgbouncer"), "/usr/sbin/pgbouncer"):
        if candidate and os.path.exists(candidate):
            return candidate
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env, capture_output=True)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", "pgbouncer"],
        check=True,
        env=env,
        capture_output=True,
    )
    return "/usr/sbin/pgbouncer"


def _verifier(server: PostgresServer) -> str:
    with (
        psycopg2.connect(
            host=server.host, port=server.port, user=server.user, password=server.password, dbname="postgres"
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (server.user,))
        row = cur.fetchone()
    assert row is not None
    assert str(row[0]).startswith("SCRAM-SHA-256$")
    return str(row[0])


@contextmanager
def pgbouncer_in_front(server: PostgresServer) -> Iterator[int]:
    """PgBouncer (session pooling) on a free loopback port, forwarding to ``server``."""
    binary = _binary()
    root = Path(tempfile.mkdtemp(prefix="lairs-pgbouncer-"))
    port = free_port()
    (root / "users.txt").write_text(f'"{server.user}" "{_verifier(server)}"\n', encoding="utf-8")
    (root / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={server.host} port={server.port}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = scram-sha-256\nauth_file = {root / 'users.txt'}\n"
        "pool_mode = session\nmax_client_conn = 400\ndefault_pool_size = 20\n"
        f"logfile = {root / 'pgbouncer.log'}\n",
        encoding="utf-8",
    )
    command = [binary, str(root / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        account = pwd.getpwnam(_SYSTEM_USER)
        for path in (root, *root.iterdir()):
            os.chown(path, account.pw_uid, account.pw_gid)
        command = ["runuser", "-u", _SYSTEM_USER, "--", *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    log = root / "pgbouncer.log"
                    raise RuntimeError(
                        f"pgbouncer did not start: {log.read_text() if log.exists() else ''}"
                    ) from None
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
