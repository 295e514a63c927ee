"""The reference firehose consumer (``@atproto/sync``'s ``Firehose``) as a verdict oracle.

:func:`reference_frame_verdicts` serves recorded ``subscribeRepos`` frames from a
loopback websocket server and runs ``verdicts.mjs`` (one Node process) against it:
the real ``Firehose`` with ``unauthenticatedCommits: false`` (signature and MST proofs
checked) resolves signing keys through the given PLC directory and reports, for every
frame, ``accept``, ``reject`` or ``ignored`` with a reason. See ``verdicts.mjs`` for
exactly what each verdict means.

The server sends ``frames[cursor:]`` for ``?cursor=N`` and then closes normally (1000),
which ends the Firehose's stream instead of it reconnecting. A frame the Firehose
cannot even decode makes it drop the connection; it then reconnects with the cursor
set to the number of frames already judged, so the rest of the stream is still judged.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from lairs_etl.localpds.node import NodeEnv
from tests.atproto.firehose.recording import SUBSCRIBE_REPOS, frame_seq

__all__ = ["FrameVerdict", "reference_frame_verdicts", "reference_verdicts", "replay_server"]

_SCRIPT = Path(__file__).with_name("verdicts.mjs")
VERDICTS = ("accept", "reject", "ignored")


@dataclass(frozen=True)
class FrameVerdict:
    """The reference Firehose's verdict on ``frames[index]``.

    ``seq`` is the frame body's ``seq`` (decoded here, else as the Firehose saw it;
    ``None`` for ``#info`` and undecodable frames); ``type`` is the header's ``t`` as
    the Firehose parsed it (``None`` when it could not).
    """

    index: int
    seq: int | None
    type: str | None
    verdict: str
    reason: str


def reference_verdicts(
    frames: Sequence[bytes], *, plc_url: str, node_env: NodeEnv, timeout: float = 60.0
) -> dict[int, tuple[str, str]]:
    """``seq -> (verdict, reason)`` for every frame that has a ``seq``.

    Frames without one (``#info``, undecodable) are left out: use
    :func:`reference_frame_verdicts` for those, and for streams that repeat a ``seq``.

    Raises:
        ValueError: two frames share a ``seq``.
        RuntimeError: the Node process failed, timed out, or judged the wrong frames.
    """
    out: dict[int, tuple[str, str]] = {}
    for v in reference_frame_verdicts(frames, plc_url=plc_url, node_env=node_env, timeout=timeout):
        if v.seq is None:
            continue
        if v.seq in out:
            raise ValueError(f"seq {v.seq} occurs twice: use reference_frame_verdicts")
        out[v.seq] = (v.verdict, v.reason)
    return out


def reference_frame_verdicts(
    frames: Sequence[bytes], *, plc_url: str, node_env: NodeEnv, timeout: float = 60.0
) -> list[FrameVerdict]:
    """One verdict per frame, in order: ``result[i]`` judges ``frames[i]``.

    Raises:
        RuntimeError: the Node process failed or timed out (with its stderr tail and
            output), or did not judge exactly ``len(frames)`` frames.
    """
    frames = [bytes(frame) for frame in frames]
    with replay_server(frames) as (url, cursors):
        cmd = [str(node_env.node), str(_SCRIPT), str(node_env.node_modules), url, plc_url, str(len(frames))]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, env=node_env.env(), check=False, timeout=timeout
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(
                f"reference firehose timed out after {timeout} s (connections at cursors {cursors}):\n"
                f"stdout: {_text(exc.stdout)[-2000:]}\nstderr: {_text(exc.stderr)[-4000:]}"
            ) from exc
    detail = (
        f"(exit {proc.returncode}, cursors served {cursors})\n"
        f"stdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-4000:]}"
    )
    if proc.returncode != 0:
        raise RuntimeError(f"reference firehose failed {detail}")
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    if not lines or not lines[-1].get("done"):
        raise RuntimeError(f"reference firehose ended without its summary {detail}")
    verdicts: list[FrameVerdict] = []
    for i, line in enumerate(lines[:-1]):
        if line["index"] != i or line["verdict"] not in VERDICTS:
            raise RuntimeError(f"reference firehose: unexpected line {line!r} {detail}")
        own = frame_seq(frames[i]) if i < len(frames) else None
        if own is not None and line["seq"] is not None and own != line["seq"]:
            raise RuntimeError(
                f"reference firehose judged seq {line['seq']} as frame {i}, seq {own} {detail}"
            )
        seq = own if own is not None else line["seq"]
        verdicts.append(FrameVerdict(i, seq, line["type"], line["verdict"], line["reason"]))
    if len(verdicts) != len(frames):
        raise RuntimeError(f"reference firehose judged {len(verdicts)} of {len(frames)} frames {detail}")
    return verdicts


@contextmanager
def replay_server(frames: Sequence[bytes]) -> Iterator[tuple[str, list[int]]]:
    """A loopback ``subscribeRepos`` server replaying ``frames``; yields (ws URL, cursors served).

    A connection with ``?cursor=N`` (default 0) gets ``frames[N:]``, then a normal close.
    """
    cursors: list[int] = []

    def handler(conn: ServerConnection) -> None:
        url = urlsplit(conn.request.path if conn.request else "")
        if url.path != SUBSCRIBE_REPOS:
            conn.close(1008, "unknown method")
            return
        try:
            cursor = int(parse_qs(url.query).get("cursor", ["0"])[0])
        except ValueError:
            conn.close(1008, "bad cursor")
            return
        cursors.append(cursor)
        try:
            for frame in frames[max(cursor, 0) :]:
                conn.send(frame)
            conn.close()  # 1000: the stream is complete, do not reconnect
        except ConnectionClosed:
            pass  # the client dropped the connection (a frame it could not decode)

    with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.socket.getsockname()[1]
        thread = threading.Thread(target=server.serve_forever, name="firehose-replay", daemon=True)
        thread.start()
        try:
            yield f"ws://127.0.0.1:{port}", cursors
        finally:
            server.shutdown()
            thread.join(timeout=10)


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data
