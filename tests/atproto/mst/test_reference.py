"""Root CIDs against the reference TypeScript MST (``@atproto/repo``, the PDS's own)."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.mst import EMPTY_ROOT, MstEditor, build
from lairs_etl.localpds.node import ensure_node_env
from tests.atproto.mst._trees import COLLECTIONS, DEEP_KEY, value_for

pytestmark = [pytest.mark.node]

_SCRIPT = Path(__file__).with_name("reference_mst.js")


def _reference_roots(cases: list[list[list[str]]]) -> list[str]:
    env = ensure_node_env()
    done = subprocess.run(
        [str(env.node), str(_SCRIPT)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        env=env.env(),
        check=True,
        timeout=300,
    )
    return list(json.loads(done.stdout))


def _random_case(rnd: random.Random) -> list[list[str]]:
    size = rnd.choice([0, 1, 5, 40, 400])
    keys = {f"{rnd.choice(COLLECTIONS)}/{rnd.getrandbits(40):010x}" for _ in range(size)}
    if rnd.random() < 0.3:
        keys.add(DEEP_KEY)
    puts = [["put", k, value_for(rnd.randrange(1000)).encode()] for k in keys]
    rnd.shuffle(puts)
    return puts + [["del", k] for k in rnd.sample(sorted(keys), len(keys) // 4)]


def _nothing(cid: Cid) -> bytes:
    raise KeyError(cid)


def test_roots_match_the_reference_implementation() -> None:
    rnd = random.Random(2024)
    cases = [_random_case(rnd) for _ in range(40)]
    expected = _reference_roots(cases)
    assert len(set(expected)) > 20
    for ops, reference in zip(cases, expected, strict=True):
        final: dict[str, Cid] = {}
        editor = MstEditor(_nothing)
        root = EMPTY_ROOT
        for op in ops:
            if op[0] == "put":
                final[op[1]] = Cid.decode(op[2])
                root = editor.put(root, op[1], final[op[1]])
            else:
                del final[op[1]]
                root = editor.delete(root, op[1])
        assert build(sorted(final.items())).root.encode() == reference
        assert root.encode() == reference
