"""The store keeps whole units only and reads back what was written."""
import numpy as np
from hypothesis import given, settings, strategies as st

from everymask.masks import encode
from everymask.store import BACKWARD, FORWARD, GENERATED, MaskRow, RunStore

SIZE = (6, 7)


def row(frame, pid, direction, seed):
    m = np.random.default_rng(seed).random(SIZE) > 0.5
    rle = encode(m)[0]
    return MaskRow(frame, pid, direction, int(m.sum()), 0.5, rle)


units = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3), st.sampled_from([GENERATED, FORWARD, BACKWARD])),
                 min_size=0, max_size=6, unique_by=lambda t: (t[0], t[1]))


@settings(max_examples=25, deadline=None)
@given(st.lists(units, max_size=5))
def test_store_reopened_after_random_units_holds_exactly_them(tmp_path_factory, unit_list):
    d = tmp_path_factory.mktemp("store")
    store = RunStore.open(d)
    expected = {}
    seen = set()
    for n, unit in enumerate(unit_list):
        rows = [row(f, p + 10 * n, dirn, 100 * n + f) for f, p, dirn in unit if (f, p + 10 * n) not in seen]
        seen |= {(r.frame, r.pid) for r in rows}
        store.commit_unit(f"u{n}", "propagate", len(rows), 0.1, rows, [(1, 2, 0.9, 0, 1)] * (n % 2))
        expected.update({(r.frame, r.pid): r for r in rows})
    store.close()
    store = RunStore.open(d, readonly=True)
    got = {(r.frame, r.pid): r for f in range(6) for r in store.frame_rows(f, SIZE)}
    assert got.keys() == expected.keys()
    for k, r in got.items():
        assert r.rle["counts"] == expected[k].rle["counts"] and r.direction == expected[k].direction
    assert set(store.done_units()) == {f"u{n}" for n in range(len(unit_list))}
    assert len(store.merges()) == sum(n % 2 for n in range(len(unit_list)))
    store.close()


def test_a_failed_unit_leaves_nothing(tmp_path):
    store = RunStore.open(tmp_path)
    good = [row(0, 1, GENERATED, 1)]
    store.commit_unit("a", "generate", 1, 0.1, good)
    try:
        store.commit_unit("b", "generate", 2, 0.1, [row(1, 1, GENERATED, 2), row(0, 1, GENERATED, 3)])  # duplicate key
    except Exception:
        pass
    assert store.done_units() == {"a": 1}
    assert [r.pid for r in store.frame_rows(1, SIZE)] == []
    store.close()
