"""Windows of key frames run in this process and stitched: exact against the whole-video run."""
import json

import numpy as np
import pytest

import everymask
from everymask.testing.replay import ReplayBackend
from everymask.config import RunConfig, RuntimeOptions
from everymask.engine.schedule import key_frames
from everymask.engine.windows import Window, WindowResult, cut_windows
from everymask.errors import EverymaskError
from everymask.masks import Masks, encode

from replay_scenes import BlankSource, box

SIZE = (40, 60)
T = 23  # key frames 0 5 10 15 20 22; with 3 key frames a window: [0 5 10] [10 15 20] [20 22]
CONFIG = RunConfig(backend="replay", step=5, min_area=0.0, vanish_area=0.0)
LOCAL = RuntimeOptions(progress=False)
WINDOWS = RuntimeOptions(progress=False, executor="windows", window_keys=3)
WINDOWS_HALO1 = RuntimeOptions(progress=False, executor="windows", window_keys=3, halo_keys=1)


def run(tmp_path, name, truth, options, missed=(), num_frames=T):
    backend = ReplayBackend(truth, SIZE, missed=set(missed)).backend()
    return everymask.segment_video(BlankSource(num_frames, SIZE), tmp_path / name, CONFIG, options=options,
                                   backend=backend)


def outputs(run):
    tracks = [(t.track_id, t.first, t.last, t.num_frames, t.parent, t.mean_area, t.score) for t in run.tracks()]
    return tracks, json.loads((run.dir / "tracks.json").read_text()), run.summary()["coverage_per_frame"]


def test_cut_windows_share_their_boundary_key_frame():
    keys = key_frames(T, 5)
    assert cut_windows(keys, 3, halo_keys=1) == [Window(0, (0, 5, 10), (), (15,)),
                                                 Window(1, (10, 15, 20), (5,), (22,)),
                                                 Window(2, (20, 22), (15,), ())]
    # the halo stops at the neighbour's far edge
    assert cut_windows(keys, 3, halo_keys=5) == [Window(0, (0, 5, 10), (), (15, 20)),
                                                 Window(1, (10, 15, 20), (5, 0), (22,)),
                                                 Window(2, (20, 22), (15, 10), ())]
    assert cut_windows(keys, 20) == [Window(0, tuple(keys))]
    # a tail under half a window joins the previous window
    assert [w.keys for w in cut_windows(list(range(0, 50, 5)), 5)] == [(0, 5, 10, 15, 20), (20, 25, 30, 35, 40, 45)]
    with pytest.raises(ValueError):
        cut_windows(keys, 1)


def test_window_result_round_trips_as_plain_data():
    mask = np.zeros((4, 6), bool)
    mask[1:3, 2:5] = True
    frame = Masks(size=(4, 6), ids=[1000000], rles=encode(mask), scores=[1.0],
                  data={"pid": [1000001], "direction": [1]})
    r = WindowResult(1, 10, 20, {1000000: {1000000: 0.9}}, [(10, frame)], 1.5, {"propagate": 1.0}, 4, "w")
    plain = r.to_plain()
    assert plain["masks"] == [(10, 1000000, 1000001, 1, 6, encode(mask)[0]["counts"])]
    assert json.loads(json.dumps({k: v for k, v in plain.items() if k != "masks"}))  # builtins only
    back = WindowResult.from_plain(plain)
    assert back.to_plain() == plain
    (t, m), = back.frames
    assert t == 10 and m.size == (4, 6) and m.ids.tolist() == [1000000] and m.areas.tolist() == [6]
    assert m.data["pid"].tolist() == [1000001] and m.data["direction"].tolist() == [1]


SCENES = {
    "moving_and_entering": ({1: {t: box(SIZE, 2, 2 + t, 10, 10) for t in range(T)},
                             2: {t: box(SIZE, 25, 5, 8, 8) for t in range(7, T)}}, ()),
    "leaving_mid_window": ({1: {t: box(SIZE, 2, 2 + t, 10, 10) for t in range(T)},
                            2: {t: box(SIZE, 25, 5, 8, 8) for t in range(0, 13)}}, ()),
    "missed_inside_a_window": ({1: {t: box(SIZE, 2, 2 + t, 10, 10) for t in range(T)},
                                2: {t: box(SIZE, 25, 5, 8, 8) for t in range(3, 19)}}, {(2, 15)}),
    # the boundary cases: missed on the shared key frame 10, seen on both sides / one side only
    "missed_on_boundary_both_sides": ({1: {t: box(SIZE, 2, 2 + t, 10, 10) for t in range(T)},
                                       2: {t: box(SIZE, 25, 5, 8, 8) for t in range(3, 19)}}, {(2, 10)}),
    "missed_on_boundary_left_only": ({1: {t: box(SIZE, 2, 2 + t, 10, 10) for t in range(T)},
                                      2: {t: box(SIZE, 25, 5, 8, 8) for t in range(3, 13)}}, {(2, 10)}),
    "missed_on_boundary_right_only": ({1: {t: box(SIZE, 2, 2 + t, 10, 10) for t in range(T)},
                                       2: {t: box(SIZE, 25, 5, 8, 8) for t in range(7, 16)}}, {(2, 10)}),
    "part_and_whole": ({1: {t: box(SIZE, 5, 5 + t, 20, 20) for t in range(T)},
                        2: {t: box(SIZE, 8, 8 + t, 4, 4) for t in range(T)}}, ()),
    "ids_by_first_appearance": ({1: {t: box(SIZE, 25, 5, 8, 8) for t in range(12, T)},
                                 2: {t: box(SIZE, 2, 2, 10, 10) for t in range(3, T)},
                                 3: {t: box(SIZE, 2, 40, 10, 10) for t in range(T)}}, ()),
}


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_windows_give_exactly_the_whole_video_result(tmp_path, scene):
    truth, missed = SCENES[scene]
    whole = outputs(run(tmp_path, "whole", truth, LOCAL, missed))
    for n, options in enumerate((WINDOWS, WINDOWS_HALO1)):
        assert outputs(run(tmp_path, f"windows{n}", truth, options, missed)) == whole


def test_the_halo_carries_an_object_missed_on_two_key_frames_in_a_row(tmp_path):
    truth = {1: {t: box(SIZE, 2, 2 + t, 10, 10) for t in range(T)},
             2: {t: box(SIZE, 25, 5, 8, 8) for t in range(3, 22)}}
    missed = {(2, 10), (2, 15)}   # the shared key frame and the next one
    whole = outputs(run(tmp_path, "whole", truth, LOCAL, missed))
    assert [t[:4] for t in whole[0]] == [(1, 0, 22, 23), (2, 3, 21, 19)]
    assert outputs(run(tmp_path, "windows", truth, WINDOWS, missed)) == whole


def test_track_whole_in_one_process_is_not_broken_at_a_boundary(tmp_path):
    # object 1 crosses both boundaries (10 and 20); object 2 is missed on boundary 10
    truth, missed = SCENES["missed_on_boundary_both_sides"]
    r = run(tmp_path, "w", truth, WINDOWS, missed)
    assert [(t.track_id, t.first, t.last, t.num_frames) for t in r.tracks()] == [(1, 0, 22, 23), (2, 3, 18, 16)]


def test_finished_windows_are_not_redone_on_resume(tmp_path):
    truth, missed = SCENES["moving_and_entering"]
    first = run(tmp_path, "r", truth, WINDOWS, missed)
    expected = outputs(first)
    backend = ReplayBackend(truth, SIZE)
    again = everymask.segment_video(BlankSource(T, SIZE), tmp_path / "r", CONFIG, options=WINDOWS,
                                    backend=backend.backend())
    assert backend.generated_frames == [] and outputs(again) == expected


def test_resume_with_another_cut_is_refused(tmp_path):
    truth, _ = SCENES["moving_and_entering"]
    run(tmp_path, "r", truth, WINDOWS)
    with pytest.raises(EverymaskError, match="cut as"):
        run(tmp_path, "r", truth, LOCAL)


def test_time_budget_stops_between_windows_and_a_rerun_finishes_the_same(tmp_path):
    truth, missed = SCENES["missed_on_boundary_both_sides"]
    expected = outputs(run(tmp_path, "ref", truth, WINDOWS, missed))
    hurried = RuntimeOptions(progress=False, executor="windows", window_keys=3, time_budget_s=1e-9)
    partial = run(tmp_path, "r", truth, hurried, missed)
    assert partial.state.status == "partial"
    backend = ReplayBackend(truth, SIZE, missed=missed)
    done = everymask.segment_video(BlankSource(T, SIZE), tmp_path / "r", CONFIG, options=WINDOWS,
                                   backend=backend.backend())
    assert backend.generated_frames and 0 not in backend.generated_frames   # window 0 was not redone
    assert done.state.status == "complete" and outputs(done) == expected
