"""The pin manifest ``lexicons/manifest.json``: which lexicon tree the project is built on."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from lairs_etl.errors import LexiconError

__all__ = ["LexiconPin", "read_pin", "write_pin"]

_HASH_ALGORITHM = "sha256 over sorted (path, length, bytes) of pub/layers/** (see lairs_etl/_codegen/tree.py)"


@dataclass(frozen=True, slots=True)
class LexiconPin:
    """Source (repository, folder, revision) and expected content of the lexicon tree."""

    repository: str
    path: str
    revision: str
    sha256: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def archive_url(self) -> str:
        """The GitHub archive tarball of the pinned revision."""
        return f"https://github.com/{self.repository}/archive/{self.revision}.tar.gz"


def read_pin(path: Path) -> LexiconPin:
    """Read a pin manifest.

    Raises:
        LexiconError: the file is missing or malformed.
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        source, tree = raw["source"], raw["tree"]
        return LexiconPin(
            repository=str(source["repository"]),
            path=str(source["path"]),
            revision=str(source["revision"]),
            sha256=str(tree["sha256"]),
            counts={str(k): int(v) for k, v in raw.get("counts", {}).items()},
        )
    except FileNotFoundError as exc:
        raise LexiconError(f"no lexicon pin manifest at {path}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise LexiconError(f"malformed lexicon pin manifest {path}: {exc}") from exc


def write_pin(path: Path, pin: LexiconPin) -> None:
    """Write ``pin`` as stable, sorted, indented JSON (diff-friendly)."""
    body = {
        "source": {"repository": pin.repository, "path": pin.path, "revision": pin.revision},
        "tree": {"sha256": pin.sha256, "algorithm": _HASH_ALGORITHM},
        "counts": dict(sorted(pin.counts.items())),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")
