"""A writer process for the crash and concurrency tests.

``python -m tests.repo._writer URL OPTIONS_JSON NAME COMMITS RECORDS`` commits COMMITS
times to branch ``main`` (retrying on conflicts) and prints one line per attempt:
``ok <cid>`` once the ref moved, ``conflict <cid>`` when another writer won. Lines are
flushed immediately so a parent that kills us knows what was reported.
"""

from __future__ import annotations

import json
import sys

from lairs_etl.errors import RefConflictError
from lairs_etl.repo.storage import open_storage

from ._helpers import commit_records, record


def main(argv: list[str]) -> None:
    url, options, name, commits, records = argv[0], json.loads(argv[1]), argv[2], int(argv[3]), int(argv[4])
    storage = open_storage(url, options)
    did = f"did:plc:{name}"
    for n in range(commits):
        while True:
            batch = [record(i, salt=f"{name}-{n}-") for i in range(records)]
            try:
                commit, _ = commit_records(storage, batch, did=did, message=f"{name} {n}")
            except RefConflictError as exc:
                print("conflict", exc.__notes__[-1], flush=True)
                continue
            print("ok", commit.cid.encode(), flush=True)
            break


if __name__ == "__main__":
    main(sys.argv[1:])
