"""The reference PDS and a PLC directory on loopback, run by one child node process.

:class:`LocalPds` is the real network peer for integration tests, the demo and the
benchmarks: ``@atproto/pds`` with an in-memory ``@did-plc/server``, started by
``launcher.cjs`` with fresh secrets and a throw-away data directory each time. The
child exits when its stdin closes, so even a parent killed outright leaves no server
behind.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx

from lairs_etl.atproto.syntax import Did, Handle
from lairs_etl.errors import ConfigError, LairsError, LocalPdsError
from lairs_etl.localpds._xrpc import call_json
from lairs_etl.localpds.account import Account
from lairs_etl.localpds.node import NodeEnv, ensure_node_env

__all__ = ["LocalPds", "free_port"]

_LAUNCHER = Path(__file__).with_name("launcher.cjs")
_EXIT_PORT_TAKEN = 98
_PORT_ATTEMPTS = 3
_BLOB_LIMIT = 110 * 1024 * 1024
_K256_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_REPO_REF = "com.atproto.admin.defs#repoRef"


class LocalPds:
    """A running reference PDS (0.5.35) plus PLC directory, as a context manager.

    ``with LocalPds() as pds: account = pds.create_account("alice.test")``. Handles
    must end in ``.test``. Each :meth:`start` gets new secrets, ports and an empty data
    directory; :meth:`stop` removes the directory and is safe to call twice.
    ``rate_limits=True`` turns on the PDS's production rate limits.
    """

    def __init__(
        self,
        *,
        rate_limits: bool = False,
        startup_timeout: float = 90.0,
        log_path: Path | None = None,
        node_env: NodeEnv | None = None,
    ) -> None:
        self._rate_limits = rate_limits
        self._startup_timeout = startup_timeout
        self._node_env = node_env
        self._log_override = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._data_dir: Path | None = None
        self._client: httpx.Client | None = None
        self._urls: tuple[str, str] | None = None
        self._admin_password = ""
        self.log_path: Path | None = log_path
        """The node process's stdout and stderr (kept after :meth:`stop` only if given)."""

    @property
    def pds_url(self) -> str:
        """``http://localhost:<port>``: the service endpoint DID documents name."""
        return self._running()[0]

    @property
    def plc_url(self) -> str:
        """The local PLC directory: point DID resolution here."""
        return self._running()[1]

    @property
    def admin_password(self) -> str:
        """Password of the ``admin`` user for ``com.atproto.admin.*`` (basic auth)."""
        self._running()
        return self._admin_password

    @property
    def pid(self) -> int | None:
        """The node process id while running."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> Self:
        """Start PLC and PDS and wait until the PDS answers ``/xrpc/_health``.

        Raises:
            ConfigError: already started, or Node / the JS packages cannot be installed.
            LocalPdsError: the servers did not come up in time (the log tail is included).
        """
        if self._proc is not None:
            raise ConfigError("LocalPds is already running")
        node_env = self._node_env or ensure_node_env()
        self._data_dir = Path(tempfile.mkdtemp(prefix="lairs-localpds-"))
        self.log_path = self._log_override or self._data_dir / "node.log"
        self._admin_password = secrets.token_urlsafe(24)
        try:
            for attempt in range(_PORT_ATTEMPTS):
                if self._launch(node_env, last_attempt=attempt == _PORT_ATTEMPTS - 1):
                    break
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the node process (stdin EOF, then SIGTERM, then SIGKILL) and clean up."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._proc is not None:
            _end(self._proc)
            self._proc = None
        self._urls = None
        if self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def create_account(self, handle: str, password: str | None = None) -> Account:
        """``com.atproto.server.createAccount``: a new ``did:plc`` registered in the local PLC.

        Raises:
            InvalidIdentifier: ``handle`` is not a handle.
            XrpcError: the PDS refused (e.g. ``HandleNotAvailable``, a domain other than ``.test``).
            TransportError: the request did not complete.
        """
        password = password or secrets.token_urlsafe(16)
        body = {"handle": str(Handle(handle)), "password": password, "email": f"{handle}@example.test"}
        answer = call_json(self._http(), "com.atproto.server.createAccount", body=body)
        return Account(
            did=Did(answer["did"]),
            handle=Handle(answer["handle"]),
            password=password,
            access_jwt=answer["accessJwt"],
            refresh_jwt=answer["refreshJwt"],
            client=self._http(),
        )

    def takedown(self, did: str, *, applied: bool = True) -> None:
        """Take an account down (or restore it) as the admin: its repo stops being served.

        Raises:
            XrpcError: the PDS refused.
            TransportError: the request did not complete.
        """
        status: dict[str, object] = {"applied": applied}
        if applied:
            status["ref"] = "lairs-etl-test"
        self._update_status(did, "takedown", status)

    def deactivate_account(self, did: str, *, applied: bool = True) -> None:
        """Deactivate (or reactivate) an account as the admin.

        Raises:
            XrpcError: the PDS refused.
            TransportError: the request did not complete.
        """
        self._update_status(did, "deactivated", {"applied": applied})

    def _update_status(self, did: str, attribute: str, value: dict[str, object]) -> None:
        body = {"subject": {"$type": _REPO_REF, "did": str(Did(did))}, attribute: value}
        admin = ("admin", self.admin_password)
        call_json(self._http(), "com.atproto.admin.updateSubjectStatus", body=body, basic=admin)

    def _running(self) -> tuple[str, str]:
        if self._urls is None:
            raise ConfigError("LocalPds is not running: call start() or use it as a context manager")
        return self._urls

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(base_url=self.pds_url, timeout=120.0)
        return self._client

    def _launch(self, node_env: NodeEnv, *, last_attempt: bool) -> bool:
        """One start attempt; False when the chosen PDS port was taken meanwhile."""
        assert self._data_dir is not None  # set by start()
        assert self.log_path is not None
        ready_file = self._data_dir / "ready.json"
        env = {k: v for k, v in node_env.env().items() if not k.startswith("PDS_")}
        env.update(self._pds_env(free_port(), ready_file))
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(  # noqa: S603 - fixed argv: our node, our script
                [str(node_env.node), str(_LAUNCHER)],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self._data_dir,
            )
        deadline = time.monotonic() + self._startup_timeout
        while not ready_file.exists():
            code = self._proc.poll()
            if code == _EXIT_PORT_TAKEN and not last_attempt:
                self._proc = None
                return False
            if code is not None:
                raise LocalPdsError(f"local PDS exited during start-up (code {code})", log_tail=self._tail())
            if time.monotonic() > deadline:
                raise LocalPdsError(
                    f"local PDS not ready after {self._startup_timeout:.0f} s", log_tail=self._tail()
                )
            time.sleep(0.1)
        urls = json.loads(ready_file.read_text())
        self._urls = (str(urls["pds_url"]), str(urls["plc_url"]))
        self._wait_healthy(deadline)
        return True

    def _pds_env(self, port: int, ready_file: Path) -> dict[str, str]:
        assert self._data_dir is not None  # set by start()
        scalar = secrets.randbelow(_K256_ORDER - 1) + 1
        env = {
            "PDS_HOSTNAME": "localhost",
            "PDS_PORT": str(port),
            "PDS_DATA_DIRECTORY": str(self._data_dir),
            "PDS_BLOBSTORE_DISK_LOCATION": str(self._data_dir / "blobs"),
            # The Layers media lexicon allows 100 MiB blobs; the PDS's default is 5 MiB.
            "PDS_BLOB_UPLOAD_LIMIT": str(_BLOB_LIMIT),
            "PDS_JWT_SECRET": secrets.token_hex(16),
            "PDS_ADMIN_PASSWORD": self._admin_password,
            "PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX": f"{scalar:064x}",
            "PDS_DEV_MODE": "true",
            "PDS_INVITE_REQUIRED": "false",
            "PDS_SERVICE_HANDLE_DOMAINS": ".test",
            "PDS_CRAWLERS": "",
            "PDS_BSKY_APP_VIEW_URL": "",
            "LAIRS_LOCALPDS_READY_FILE": str(ready_file),
        }
        if self._rate_limits:
            env["PDS_RATE_LIMITS_ENABLED"] = "true"
        return env

    def _wait_healthy(self, deadline: float) -> None:
        while True:
            try:
                call_json(self._http(), "_health")
                return
            except LairsError as exc:
                if time.monotonic() > deadline or (self._proc is not None and self._proc.poll() is not None):
                    message = f"local PDS never became healthy: {exc}"
                    raise LocalPdsError(message, log_tail=self._tail()) from exc
            time.sleep(0.1)

    def _tail(self, limit: int = 4000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as handle:
            handle.seek(max(0, self.log_path.stat().st_size - limit))
            return handle.read().decode("utf-8", "replace")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a server started next; loopback only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _end(proc: subprocess.Popen[bytes]) -> None:
    stdin: IO[bytes] | None = proc.stdin
    if stdin is not None:
        stdin.close()
    for action, wait in ((None, 10.0), (proc.terminate, 5.0), (proc.kill, 5.0)):
        if action is not None:
            action()
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
