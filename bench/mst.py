"""MST benchmark: bulk build vs one-insert-at-a-time (ours) vs atmst, same keys, same run.

    .venv/bin/python bench/mst.py [--keys 50000] [--repeat 3]

Keys look like a real repository: a few collections, TID record keys. Prints keys/s
for each path and the ratios; the target for bulk build is >= 50,000 keys/s.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from typing import TypeVar

from atmst.blockstore import MemoryBlockStore as AtmstStore  # type: ignore[import-untyped]  # atmst ships no py.typed
from atmst.mst.node_store import NodeStore  # type: ignore[import-untyped]
from atmst.mst.node_wrangler import NodeWrangler  # type: ignore[import-untyped]

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor
from lairs_etl.atproto.mst import EMPTY_ROOT, MstEditor, build, diff, walk_leaves

_B32 = "234567abcdefghijklmnopqrstuvwxyz"
_COLLECTIONS = [
    "app.bsky.feed.like",
    "app.bsky.feed.post",
    "pub.layers.annotation.annotationLayer",
    "pub.layers.expression.expression",
    "pub.layers.segmentation.segmentation",
]


def _tid(micros: int, clock: int) -> str:
    n = (micros << 10) | clock
    return "".join(_B32[(n >> (5 * i)) & 31] for i in range(12, -1, -1))


def _pairs(count: int) -> list[tuple[str, Cid]]:
    rnd = random.Random(7)
    t = 1_700_000_000_000_000
    out = []
    for i in range(count):
        t += rnd.randint(1, 5_000_000)
        key = f"{rnd.choice(_COLLECTIONS)}/{_tid(t, i & 1023)}"
        out.append((key, cid_for_dag_cbor(cbor.encode({"i": i}))))
    return sorted(dict(out).items())


T = TypeVar("T")
_cpu: dict[str, float] = {}


def _best(repeat: int, fn: Callable[[], T], name: str = "") -> tuple[float, T]:
    """Best wall time of ``repeat`` runs; the best CPU time goes to ``_cpu[name]``.

    Both are kept because the machine is shared: wall time is what a user waits, CPU
    time is what the code costs when it has a core to itself.
    """
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    _cpu[name] = best_cpu
    return best, result


def _nothing(cid: Cid) -> bytes:
    raise KeyError(cid)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pairs = _pairs(args.keys)
    n = len(pairs)
    shuffled = pairs[:]
    random.Random(1).shuffle(shuffled)

    t_bulk, tree = _best(args.repeat, lambda: build(pairs), "bulk")

    def incremental() -> Cid:
        editor = MstEditor(_nothing)
        root = EMPTY_ROOT
        for key, value in shuffled:
            root = editor.put(root, key, value)
        return root

    def with_atmst() -> Cid:
        wrangler = NodeWrangler(NodeStore(AtmstStore()))
        root = wrangler.ns.get_node(None).cid
        for key, value in shuffled:
            root = wrangler.put_record(root, key, value)
        return Cid(bytes(root))

    t_inc, inc_root = _best(1, incremental, "inc")
    t_atmst, atmst_root = _best(1, with_atmst, "atmst")
    assert inc_root == tree.root == atmst_root, "all three paths must agree on the root"

    get = tree.blocks.__getitem__
    t_walk, leaves = _best(
        args.repeat, lambda: sum(1 for _ in walk_leaves(tree.root, get)), "walk"
    )
    assert leaves == n

    editor = MstEditor(get)
    root = tree.root
    for key, _ in shuffled[:100]:
        root = editor.put(root, key, cid_for_dag_cbor(cbor.encode(key)))
    blocks = {**tree.blocks, **editor.blocks}
    t_diff, changes = _best(
        args.repeat, lambda: len(list(diff(tree.root, root, blocks.__getitem__))), "diff"
    )

    print(f"keys: {n:,}   nodes: {len(tree.blocks):,}   root: {tree.root.encode()}")
    cpu = _cpu
    print(f"{'':21}{'wall keys/s':>12} {'cpu keys/s':>12}")
    print(f"bulk build           {n / t_bulk:>12,.0f} {n / cpu['bulk']:>12,.0f}   ({t_bulk * 1000:,.0f} ms)")
    print(f"incremental (ours)   {n / t_inc:>12,.0f} {n / cpu['inc']:>12,.0f}   "
          f"bulk is {t_inc / t_bulk:,.1f}x faster (cpu {cpu['inc'] / cpu['bulk']:,.1f}x)")
    print(f"incremental (atmst)  {n / t_atmst:>12,.0f} {n / cpu['atmst']:>12,.0f}   "
          f"bulk is {t_atmst / t_bulk:,.1f}x faster (cpu {cpu['atmst'] / cpu['bulk']:,.1f}x); "
          f"ours is {cpu['atmst'] / cpu['inc']:,.1f}x atmst (cpu)")
    print(f"verified walk        {n / t_walk:>12,.0f} {n / cpu['walk']:>12,.0f}")
    print(f"diff, {changes} changes     {t_diff * 1000:>9,.1f} ms wall, {cpu['diff'] * 1000:,.1f} ms cpu "
          f"(a full walk of one tree: {cpu['walk'] * 1000:,.0f} ms cpu)")


if __name__ == "__main__":
    main()
