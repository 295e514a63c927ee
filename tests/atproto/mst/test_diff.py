from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.mst import Change, MstEditor, build, diff, walk_leaves
from tests.atproto.mst._trees import DEEP_KEY, keys_st, mappings_st, value_for, values_st


def _slow_diff(old: dict[str, Cid], new: dict[str, Cid]) -> list[Change]:
    """The oracle: materialize both maps and compare them key by key."""
    return [
        Change(k, old.get(k), new.get(k)) for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)
    ]


def _apply(mapping: dict[str, Cid], changes: list[Change]) -> dict[str, Cid]:
    out = dict(mapping)
    for change in changes:
        assert out.get(change.key) == change.old
        if change.new is None:
            del out[change.key]
        else:
            out[change.key] = change.new
    return out


@settings(max_examples=80, deadline=None)
@given(mappings_st, mappings_st)
def test_diff_of_unrelated_trees_matches_the_oracle(a: dict[str, Cid], b: dict[str, Cid]) -> None:
    ta, tb = build(sorted(a.items())), build(sorted(b.items()))
    blocks = {**ta.blocks, **tb.blocks}
    changes = list(diff(ta.root, tb.root, blocks.__getitem__))
    assert changes == _slow_diff(a, b)
    assert _apply(a, changes) == b


@settings(max_examples=80, deadline=None)
@given(
    mappings_st,
    st.dictionaries(keys_st, st.none() | values_st, max_size=8),
    st.booleans(),
)
def test_diff_of_edited_trees_matches_the_oracle(
    a: dict[str, Cid], edits: dict[str, Cid | None], deep: bool
) -> None:
    if deep:
        a[DEEP_KEY] = value_for(0)
    ta = build(sorted(a.items()))
    editor = MstEditor(ta.blocks.__getitem__)
    root, b = ta.root, dict(a)
    for key, value in edits.items():
        if value is None:
            root = editor.delete(root, key)
            b.pop(key, None)
        else:
            root = editor.put(root, key, value)
            b[key] = value
    blocks = {**ta.blocks, **editor.blocks}
    forward = list(diff(ta.root, root, blocks.__getitem__))
    assert forward == _slow_diff(a, b)
    assert _apply(a, forward) == b
    backward = list(diff(root, ta.root, blocks.__getitem__))
    assert _apply(b, backward) == a
    replayed = MstEditor(blocks.__getitem__).apply(ta.root, ((c.key, c.new) for c in forward))
    assert replayed == root
    assert dict(walk_leaves(root, blocks.__getitem__)) == b


def test_diff_reads_only_the_changed_paths() -> None:
    pairs = [(f"app.bsky.feed.like/{i:06d}", value_for(i)) for i in range(20000)]
    base = build(pairs)
    editor = MstEditor(base.blocks.__getitem__)
    root = editor.put(base.root, "app.bsky.feed.like/010000", value_for(-1))
    root = editor.delete(root, "app.bsky.feed.like/000500")
    root = editor.put(root, "pub.layers.a/b", value_for(-2))
    blocks = {**base.blocks, **editor.blocks}
    reads: list[Cid] = []

    def counting_get(cid: Cid) -> bytes:
        reads.append(cid)
        return blocks[cid]

    changes = list(diff(base.root, root, counting_get))
    assert changes == [
        Change("app.bsky.feed.like/000500", value_for(500), None),
        Change("app.bsky.feed.like/010000", value_for(10000), value_for(-1)),
        Change("pub.layers.a/b", None, value_for(-2)),
    ]
    assert len(reads) < 80  # the trees have ~6,700 nodes each
    assert len(reads) == len(set(reads))


def test_identical_roots_read_nothing() -> None:
    tree = build([("coll/a", value_for(1))])

    def no_reads(cid: Cid) -> bytes:
        raise AssertionError("diff of equal roots must not read")

    assert list(diff(tree.root, tree.root, no_reads)) == []
