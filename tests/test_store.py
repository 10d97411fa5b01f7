"""The store keeps whole units only and reads back what was written."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from everymask.masks import Masks, encode
from everymask.store import BACKWARD, FORWARD, GENERATED, RunStore

SIZE = (6, 7)


def one_mask(frame: int, pid: int, direction: int, mask: np.ndarray, score: float = 0.5) -> tuple[int, Masks]:
    """(frame, masks) with one mask, as a unit commits them."""
    return frame, Masks(size=mask.shape, ids=[pid], rles=encode(mask), scores=[score],
                        data={"direction": [direction]})


def row(frame, pid, direction, seed):
    return one_mask(frame, pid, direction, np.random.default_rng(seed).random(SIZE) > 0.5)


def stored(store: RunStore, frame: int, size=SIZE) -> dict:
    """(frame, pid) -> (RLE counts, direction, area) of the stored masks of one frame."""
    m = store.frame_masks(frame, size)
    return {(frame, int(p)): (r["counts"], int(d), int(a))
            for p, r, d, a in zip(m.ids, m.rles, m.data["direction"], m.areas)}


units = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3), st.sampled_from([GENERATED, FORWARD, BACKWARD])),
                 min_size=0, max_size=6, unique_by=lambda t: (t[0], t[1]))


@settings(max_examples=25, deadline=None)
@given(st.lists(units, max_size=5))
def test_store_reopened_after_random_units_holds_exactly_them(tmp_path_factory, unit_list):
    d = tmp_path_factory.mktemp("store")
    store = RunStore.open(d)
    expected, want_vector = {}, {}
    seen = set()
    for n, unit in enumerate(unit_list):
        rows = [row(f, p + 10 * n, dirn, 100 * n + f) for f, p, dirn in unit if (f, p + 10 * n) not in seen]
        pids = [int(m.ids[0]) for _, m in rows]
        seen |= {(f, int(m.ids[0])) for f, m in rows}
        store.commit_unit(f"u{n}", "propagate", len(rows), 0.1, rows, [(9 - n, n, 0.9, 0, 1, "match")] * (n % 2),
                          {p: np.full(4, n + 1, np.float32) / 2 for p in pids})
        expected.update({(f, int(m.ids[0])): (m.rles[0]["counts"], int(m.data["direction"][0]), int(m.areas[0]))
                         for f, m in rows})
        want_vector.update({p: (n + 1) / 2 for p in pids})
    store.close()
    store = RunStore.open(d, readonly=True)
    got = {k: v for f in range(6) for k, v in stored(store, f).items()}
    assert got == expected
    assert set(store.done_units()) == {f"u{n}" for n in range(len(unit_list))}
    # merges come back in the order they were committed (finalize replays them so), not sorted
    assert store.merges() == [(9 - n, n, 0.9) for n in range(len(unit_list)) if n % 2]
    vectors = store.descriptors([p for _, p in expected] + [123456])
    assert {p: v.tolist() for p, v in vectors.items()} == {p: [v] * 4 for p, v in want_vector.items()}
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
    assert stored(store, 1) == {}
    store.close()


def test_counts_are_stored_deflated_and_read_back_exactly(tmp_path):
    from everymask.store.sqlite_store import pack_counts, unpack_counts
    big = np.zeros((144, 176), bool)
    big[20:120, 30:150] = np.random.default_rng(0).random((100, 120)) > 0.3  # ragged: a long RLE
    rle = encode(big)[0]
    store = RunStore.open(tmp_path)
    store.commit_unit("a", "generate", 1, 0.1, [one_mask(0, 1, GENERATED, big)])
    stored = bytes(store.db.execute("SELECT rle FROM masks").fetchone()[0])
    assert stored == pack_counts(rle["counts"]) and len(stored) < 0.7 * len(rle["counts"])
    assert unpack_counts(stored) == rle["counts"]
    back = store.frame_masks(0, (144, 176))
    assert back.rles == [{"size": [144, 176], "counts": rle["counts"]}] and back.areas.tolist() == [int(big.sum())]
    store.close()


def test_rows_of_a_few_kb_use_no_overflow_pages(tmp_path):
    """A WITHOUT ROWID table spills rows over ~1 KB into mostly empty 4 KB overflow pages; ours must not."""
    import sqlite3

    import pytest

    from everymask.store.sqlite_store import pack_counts
    rng = np.random.default_rng(1)
    store = RunStore.open(tmp_path)
    masks = np.zeros((8, 144, 176), bool)
    masks[:, 20:120, 30:130] = rng.random((8, 100, 100)) > 0.5
    rows = [one_mask(f, 1, GENERATED, m) for f, m in enumerate(masks)]
    assert all(1500 < len(pack_counts(m.rles[0]["counts"])) < 4000 for _, m in rows)  # noise: between 1 KB and a page
    store.commit_unit("a", "generate", 8, 0.1, rows)
    store.write_tracks(((1, f, 0, m.rles[0]["counts"]) for f, m in rows), lambda: [], {})
    try:
        pages = dict(store.db.execute("SELECT pagetype, COUNT(*) FROM dbstat WHERE name IN ('masks', 'track_masks') "
                                      "GROUP BY pagetype"))
    except sqlite3.OperationalError:
        pytest.skip("this SQLite has no dbstat table")
    assert "overflow" not in pages and pages["leaf"] > 0
    store.close()


def test_summary_store_figures_in_local_and_windowed_runs(tmp_path):
    """Windowed runs keep their masks in `window_masks`: the figures must count those, not read 0."""
    import pytest

    import everymask
    from everymask.config import RunConfig, RuntimeOptions
    from everymask.testing.replay import ReplayBackend

    from replay_scenes import BlankSource, box
    size, frames = (40, 60), 23
    truth = {1: {t: box(size, 2, 2 + t, 10, 10) for t in range(frames)},
             2: {t: box(size, 25, 5, 8, 8) for t in range(7, 16)}}
    config = RunConfig(backend="replay", step=5, min_area=0.0, vanish_area=0.0)
    for executor, table in [("local", "masks"), ("windows", "window_masks")]:
        options = RuntimeOptions(progress=False, executor=executor, window_keys=3)
        run = everymask.segment_video(BlankSource(frames, size), tmp_path / executor, config, options=options,
                                      backend=ReplayBackend(truth, size).backend())
        summary = run.summary()
        n, stored = run.store.db.execute(f"SELECT COUNT(*), SUM(LENGTH(rle)) FROM {table}").fetchone()
        run.close()
        assert n > 0 and summary["store_masks"] == n, executor
        assert summary["rle_bytes_per_mask"] == pytest.approx(stored / n, abs=0.05), executor
        file_bytes = (tmp_path / executor / "everymask.sqlite").stat().st_size  # closed: WAL checkpointed
        assert summary["store_bytes_per_mask"] == pytest.approx(file_bytes / n, rel=0.05), executor


def test_run_state_round_trips_typed_and_decides_finalize(tmp_path):
    store = RunStore.open(tmp_path)
    assert not store.state().started and store.state().needs_finalize(0, ran_now=False)
    store.update_state(config="{}", size=(240, 426), num_frames=132, fps=25.0, timings={"generate": 1.5})
    state = store.update_state(status="partial", finalized_at=7)
    assert (state.size, state.num_frames, state.fps, state.timings) == ((240, 426), 132, 25.0, {"generate": 1.5})
    store.close()
    state = RunStore.open(tmp_path, readonly=True).state()
    assert state.size == (240, 426) and state.status == "partial" and state.finalized_at == 7
    assert not state.needs_finalize(7, ran_now=False)
    assert state.needs_finalize(8, ran_now=False) and state.needs_finalize(7, ran_now=True)
    with pytest.raises(AttributeError, match="no field 'stauts'"):
        RunStore.open(tmp_path).update_state(stauts="complete")
