"""The engine, exactly: a replay backend serves known masks, so every id and frame range is known."""
import json
import sqlite3

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

import everymask
from everymask.testing.replay import ReplayBackend
from everymask.config import RunConfig, RuntimeOptions
from everymask.engine.associate import Thresholds, match, match_key_frame, pick_representatives, resolve_ids
from everymask.engine.runner import track_graph
from everymask.engine.schedule import key_frames, origin_of, pid_of
from everymask.masks import decode_one, iou_matrix, rle_from_json

from replay_scenes import BlankSource, box

SIZE = (40, 60)
T = 23  # key frames 0 5 10 15 20 22
CONFIG = RunConfig(backend="replay", step=5, min_area=0.0, vanish_area=0.0)
OPTS = RuntimeOptions(progress=False)


def run_replay(tmp_path, truth, missed=(), config=CONFIG, num_frames=T, name="out"):
    backend = ReplayBackend(truth, SIZE, missed=set(missed))
    run = everymask.segment_video(BlankSource(num_frames, SIZE), tmp_path / name, config, options=OPTS,
                                  backend=backend.backend())
    return run, backend


def spans(run):
    return [(t.track_id, t.first, t.last, t.num_frames) for t in run.tracks()]


def test_key_frames_include_the_last_frame():
    assert key_frames(23, 5) == [0, 5, 10, 15, 20, 22]
    assert key_frames(21, 5) == [0, 5, 10, 15, 20]
    assert key_frames(1, 5) == [0]
    assert key_frames(0, 5) == []


def test_object_entering_between_key_frames_starts_at_its_true_first_frame(tmp_path):
    truth = {1: {t: box(SIZE, 2, 2 + t, 10, 10) for t in range(T)},
             2: {t: box(SIZE, 25, 5, 8, 8) for t in range(7, T)}}
    run, _ = run_replay(tmp_path, truth)
    assert spans(run) == [(1, 0, 22, 23), (2, 7, 22, 16)]


def test_object_leaving_between_key_frames_ends_there(tmp_path):
    truth = {1: {t: box(SIZE, 2, 2 + t, 10, 10) for t in range(T)},
             2: {t: box(SIZE, 25, 5, 8, 8) for t in range(0, 13)}}
    run, _ = run_replay(tmp_path, truth)
    assert spans(run) == [(1, 0, 22, 23), (2, 0, 12, 13)]


def test_object_missed_on_a_key_frame_stays_one_track(tmp_path):
    truth = {1: {t: box(SIZE, 2, 2 + t, 10, 10) for t in range(T)},
             2: {t: box(SIZE, 25, 5, 8, 8) for t in range(7, 16)}}
    run, backend = run_replay(tmp_path, truth, missed={(2, 10)})
    assert spans(run) == [(1, 0, 22, 23), (2, 7, 15, 9)]
    # the mask of frame 15 arrived unmatched at key frame 10 and went on back to 5 (ending at 7)
    assert (10, 5, 1) in backend.propagations


def test_each_key_frame_is_propagated_once_per_direction(tmp_path):
    truth = {1: {t: box(SIZE, 2, 2 + t, 10, 10) for t in range(T)}}
    _, backend = run_replay(tmp_path, truth)
    keys = key_frames(T, 5)
    expected = [(a, b, 1) for a, b in zip(keys, keys[1:])] + [(b, a, 1) for a, b in zip(keys, keys[1:])]
    assert sorted(backend.propagations) == sorted(expected)
    assert backend.generated_frames == keys


def test_part_and_whole_are_separate_tracks_with_parent(tmp_path):
    truth = {1: {t: box(SIZE, 5, 5 + t, 20, 20) for t in range(T)},
             2: {t: box(SIZE, 8, 8 + t, 4, 4) for t in range(T)}}
    run, _ = run_replay(tmp_path, truth)
    tracks = run.tracks()
    assert [(t.track_id, t.parent, t.mean_area) for t in tracks] == [(1, None, 400.0), (2, 1, 16.0)]
    entries = json.loads((run.dir / "tracks.json").read_text())
    assert [e["parent"] for e in entries] == [None, 1]


def test_max_masks_keeps_the_largest(tmp_path):
    truth = {1: {t: box(SIZE, 2, 2, 10, 10) for t in range(T)},
             2: {t: box(SIZE, 20, 2, 5, 5) for t in range(T)},
             3: {t: box(SIZE, 20, 30, 12, 12) for t in range(T)}}
    run, _ = run_replay(tmp_path, truth, config=CONFIG.replace(max_masks=2))
    assert [t.mean_area for t in run.tracks()] == [144.0, 100.0]


def test_min_area_drops_small_generated_masks(tmp_path):
    truth = {1: {t: box(SIZE, 2, 2, 10, 10) for t in range(T)},
             2: {t: box(SIZE, 20, 2, 3, 3) for t in range(T)}}
    run, _ = run_replay(tmp_path, truth, config=CONFIG.replace(min_area=10 / (40 * 60)))
    assert [t.mean_area for t in run.tracks()] == [100.0]


def test_a_generated_mask_under_vanish_area_starts_no_track(tmp_path):
    """It would end on the first frame it is propagated to: a track of one frame per key frame.
    A 3x3 mask (9 px) over min_area (5 px) but under vanish_area (20 px) is dropped; the one of
    100 px stays, on every frame."""
    truth = {1: {t: box(SIZE, 2, 2, 10, 10) for t in range(T)},
             2: {t: box(SIZE, 20, 2, 3, 3) for t in range(T)}}
    config = CONFIG.replace(min_area=5 / (40 * 60), vanish_area=20 / (40 * 60))
    assert config.min_generated_area == config.vanish_area
    run, _ = run_replay(tmp_path, truth, config=config)
    assert spans(run) == [(1, 0, T - 1, T)]


def test_vanish_area_ends_a_shrinking_mask(tmp_path):
    # shrinks by one row per frame from 10 rows; vanish at 5 rows * 10 px = 50 px
    truth = {1: {t: box(SIZE, 2, 2, max(10 - t, 1), 10) for t in range(T)}}
    run, _ = run_replay(tmp_path, truth, config=CONFIG.replace(vanish_area=50 / (40 * 60)))
    assert spans(run)[0][1:3] == (0, 5)


def test_ids_follow_first_appearance(tmp_path):
    truth = {1: {t: box(SIZE, 25, 5, 8, 8) for t in range(12, T)},
             2: {t: box(SIZE, 2, 2, 10, 10) for t in range(3, T)},
             3: {t: box(SIZE, 2, 40, 10, 10) for t in range(T)}}
    run, _ = run_replay(tmp_path, truth)
    assert [(t.track_id, t.first) for t in run.tracks()] == [(1, 0), (2, 3), (3, 12)]


def test_tracks_json_decodes_to_the_truth(tmp_path):
    truth = {1: {t: box(SIZE, 2, 2 + t, 10, 10) for t in range(T)},
             2: {t: box(SIZE, 25, 5, 8, 8) for t in range(7, T)}}
    run, _ = run_replay(tmp_path, truth)
    entries = json.loads((run.dir / "tracks.json").read_text())
    assert [e["track_id"] for e in entries] == [1, 2]
    for entry, gt in zip(entries, (truth[1], truth[2])):
        assert entry["category_id"] == 1 and entry["video_id"] == 1 and len(entry["segmentations"]) == T
        for t, seg in enumerate(entry["segmentations"]):
            if t not in gt:
                assert seg is None and entry["areas"][t] is None
                continue
            assert seg["size"] == list(SIZE)
            assert np.array_equal(decode_one(rle_from_json(seg)), decode_one(gt[t]))
            assert entry["areas"][t] == int(decode_one(gt[t]).sum())


def test_single_frame_video(tmp_path):
    truth = {1: {0: box(SIZE, 2, 2, 10, 10)}}
    run, _ = run_replay(tmp_path, truth, num_frames=1)
    assert spans(run) == [(1, 0, 0, 1)]


def test_match_is_one_to_one_above_threshold():
    g = [box(SIZE, 0, 0, 10, 10), box(SIZE, 20, 20, 10, 10)]
    a = [box(SIZE, 20, 21, 10, 10), box(SIZE, 0, 0, 10, 10)]
    assert match(a, g, 0.8) == [(0, 1, 0.8181818181818182), (1, 0, 1.0)]
    assert match([box(SIZE, 0, 5, 10, 10)], g, 0.8) == []  # IoU 1/3


def key_match(arrivals, generated, key_frame=5, graph=None, **thresholds):
    """match_key_frame on (pid, box) lists; -> (stops, merges, graph)."""
    graph = graph or track_graph()
    out = match_key_frame([p for p, _ in arrivals], [m for _, m in arrivals], [p for p, _ in generated],
                          [m for _, m in generated], key_frame, graph, Thresholds(**thresholds))
    return sorted(out.stops), out.merges, graph


def test_key_frame_match_stages():
    a0, a1, a2, a3 = (pid_of(n, 0) for n in range(4))   # four tracks, from four earlier frames
    g0, g1, g2 = (pid_of(5, n) for n in range(3))
    obj = box(SIZE, 0, 0, 20, 10)                      # 200 px
    stops, merges, graph = key_match(
        [(a0, obj), (a1, box(SIZE, 0, 0, 19, 10)),         # a1: IoU 0.95 with g0, which a0 takes: a copy
         (a2, box(SIZE, 25, 0, 10, 10)),                   # a2: IoU 0.538 with g1 only: second stage
         (a3, box(SIZE, 25, 40, 10, 10))],                 # a3: nothing there: goes on
        [(g0, obj), (g1, box(SIZE, 25, 3, 10, 10)), (g2, box(SIZE, 0, 40, 8, 8))])
    assert stops == [0, 1, 2]
    assert merges == [(a0, g0, 1.0, "match"), (a1, g0, 0.95, "copy"), (a2, g1, 0.5384615384615384, "second")]
    assert graph.find(a1) == graph.find(g0) == a0 and graph.find(g1) == a2 and graph.find(a3) == a3
    # two masks of one earlier key frame: the copy cannot join (cannot-link) but stops all the same
    b0, b1 = pid_of(0, 0), pid_of(0, 1)
    stops, merges, graph = key_match([(b0, obj), (b1, box(SIZE, 0, 0, 19, 10))], [(g0, obj)])
    assert stops == [0, 1] and merges == [(b0, g0, 1.0, "match")] and graph.find(b1) == b1


def test_key_frame_match_second_stage_needs_a_mutual_best():
    a0, a1, g0 = pid_of(0, 0), pid_of(0, 1), pid_of(5, 0)
    # both arrivals overlap g0 at 0.54 and 0.67: only the mutual best (a1) merges, a0 goes on
    stops, merges, _ = key_match([(a0, box(SIZE, 0, 3, 10, 10)), (a1, box(SIZE, 0, 2, 10, 10))],
                                 [(g0, box(SIZE, 0, 0, 10, 10))])
    assert stops == [1] and merges == [(a1, g0, 0.6666666666666666, "second")]
    # with the second stage off (second_iou above it), both go on
    assert key_match([(a1, box(SIZE, 0, 2, 10, 10))], [(g0, box(SIZE, 0, 0, 10, 10))], second=0.7)[:2] == ([], [])


def test_key_frame_match_refuses_a_merge_that_would_not_hold():
    # a0's track already holds g1, a mask of key frame 5: it cannot also take g0 (same key frame) even at
    # IoU 1; a0 stops (its track goes on as g1), and a1 takes g0 one to one
    a0, a1, g0, g1 = pid_of(0, 0), pid_of(0, 1), pid_of(5, 0), pid_of(5, 1)
    graph = track_graph()
    assert graph.join(a0, g1) and not graph.can_join(a0, g0)
    stops, merges, _ = key_match([(a0, box(SIZE, 0, 0, 10, 10)), (a1, box(SIZE, 0, 1, 10, 10))],
                                 [(g0, box(SIZE, 0, 0, 10, 10)), (g1, box(SIZE, 20, 20, 10, 10))], graph=graph)
    assert stops == [0, 1] and merges == [(a1, g0, 0.8181818181818182, "match")]
    # the arrival's track and g2's both hold a mask of key frame 10: the match (IoU 0.82) is refused, so
    # the arrival is not matched and goes on (a copy, above copy_iou, would stop)
    b0, g2 = pid_of(0, 2), pid_of(5, 2)
    graph = track_graph()
    assert graph.join(b0, pid_of(10, 0)) and graph.join(g2, pid_of(10, 1))
    stops, merges, _ = key_match([(b0, box(SIZE, 0, 1, 10, 10))], [(g2, box(SIZE, 0, 0, 10, 10))], graph=graph)
    assert stops == [] and merges == []
    stops, merges, _ = key_match([(b0, box(SIZE, 0, 0, 10, 10))], [(g2, box(SIZE, 0, 0, 10, 10))], graph=graph)
    assert stops == [0] and merges == []


def test_key_frame_match_copies_among_arrivals_keep_the_oldest():
    old, young, g0 = pid_of(0, 0), pid_of(5, 0), pid_of(10, 0)
    stops, merges, graph = key_match([(old, box(SIZE, 0, 0, 20, 10)), (young, box(SIZE, 0, 0, 19, 10))],
                                     [(g0, box(SIZE, 30, 40, 5, 5))], key_frame=10)
    assert stops == [1] and merges == [(old, young, 0.95, "copy")] and graph.find(young) == old


def test_a_copy_of_a_tracked_object_never_reaches_the_output(tmp_path):
    # object 2 is hidden from the generator on every key frame but 10 and nearly coincides with object 1
    # (IoU 0.95): where it arrives at key frames 5 and 15 it is a copy of object 1's key mask, and it
    # cannot merge (it was generated on frame 10 beside object 1: a cannot-link), so it stops there; in
    # finalize, on frames 5-15, the younger of the two copies ends: one object, one id, one mask per frame
    truth = {1: {t: box(SIZE, 2, 2, 20, 10) for t in range(T)},
             2: {t: box(SIZE, 2, 2, 19, 10) for t in range(T)}}
    missed = {(2, k) for k in (0, 5, 15, 20, 22)}
    run, _ = run_replay(tmp_path, truth, missed=missed, name="copies")
    assert spans(run) == [(1, 0, 22, 23)]
    assert run.summary()["max_masks_per_frame"] == 1
    with sqlite3.connect(run.dir / "everymask.sqlite") as db:
        kinds = [k for (k,) in db.execute("SELECT kind FROM merges WHERE a % 100000 = 1 OR b % 100000 = 1")]
    assert kinds == []  # every join of object 2's mask was refused
    # above copy_iou they are two things: both go on to both ends
    apart, _ = run_replay(tmp_path, truth, missed=missed, config=CONFIG.replace(copy_iou=0.96), name="apart")
    assert spans(apart) == [(1, 0, 22, 23), (2, 0, 22, 23)]


def test_resolve_ids_refuses_two_masks_of_one_key_frame():
    a, c = pid_of(0, 0), pid_of(0, 1)   # two masks of key frame 0
    b = pid_of(5, 0)
    edges = [(a, b, 0.9), (c, b, 0.85)]
    roots = resolve_ids([a, b, c], edges, keys_of=lambda p: (origin_of(p),))
    assert roots == {a: a, b: a, c: c}


def test_resolve_ids_takes_strongest_edges_first_whatever_their_order():
    a, c, b = pid_of(0, 0), pid_of(0, 1), pid_of(5, 0)
    for edges in ([(a, b, 0.81), (c, b, 0.95)], [(c, b, 0.95), (a, b, 0.81)]):
        assert resolve_ids([a, b, c], edges, keys_of=lambda p: (origin_of(p),)) == {a: a, b: c, c: c}


def test_pick_representatives_prefers_the_nearest_key_frame():
    # frame 7: pid from key 5 (forward, age 2) and pid from key 10 (backward, age 3), same track
    pids = np.array([pid_of(5, 0), pid_of(10, 0), pid_of(10, 1)])
    keep = pick_representatives(pids, np.array([1, -1, -1]), np.array([1, 1, 2]), pids // 100_000, 7)
    assert keep.tolist() == [0, 2]
    # frame 8: backward is nearer
    keep = pick_representatives(pids, np.array([1, -1, -1]), np.array([1, 1, 2]), pids // 100_000, 8)
    assert keep.tolist() == [1, 2]


def test_coverage_target_drops_the_tail_of_small_masks(tmp_path):
    # frame 40x60 = 2400 px; masks of 1200, 600 and 40 px side by side: 0.5, 0.75, 0.767 of the frame
    truth = {1: {t: box(SIZE, 0, 0, 40, 30) for t in range(T)},
             2: {t: box(SIZE, 0, 30, 20, 30) for t in range(T)},
             3: {t: box(SIZE, 20, 30, 4, 10) for t in range(T)}}
    run, _ = run_replay(tmp_path, truth, config=CONFIG.replace(coverage_target=0.7), name="cov")
    assert [t.mean_area for t in run.tracks()] == [1200.0, 600.0]
    s = run.summary()
    assert s["coverage_per_frame"] == [0.75] * T and s["coverage_mean"] == 0.75
    run, _ = run_replay(tmp_path, truth, name="all")
    assert len(run.tracks()) == 3 and run.summary()["coverage_min"] == 0.7667


def test_min_track_area_drops_tracks_that_stay_small(tmp_path):
    truth = {1: {t: box(SIZE, 0, 0, 10, 10) for t in range(T)},
             2: {t: box(SIZE, 20, 30, 4, 4 + (t == 3) * 10) for t in range(T)}}  # 16 px, 56 px on frame 3
    run, _ = run_replay(tmp_path, truth, config=CONFIG.replace(min_track_area=50 / 2400), name="a")
    assert len(run.tracks()) == 2  # track 2 is over 50 px once
    run, _ = run_replay(tmp_path, truth, config=CONFIG.replace(min_track_area=60 / 2400), name="b")
    assert [t.mean_area for t in run.tracks()] == [100.0]


def test_carry_keys_bounds_how_far_an_unmatched_mask_travels(tmp_path):
    # object 2 is generated on key frame 20 only; carried back, it is unmatched at 15, 10, 5 and 0
    truth = {1: {t: box(SIZE, 2, 2, 10, 10) for t in range(T)},
             2: {t: box(SIZE, 25, 30, 8, 8) for t in range(T)}}
    missed = {(2, k) for k in (0, 5, 10, 15, 22)}
    far, _ = run_replay(tmp_path, truth, missed=missed, config=CONFIG.replace(carry_keys=0), name="far")
    near, backend = run_replay(tmp_path, truth, missed=missed, config=CONFIG.replace(carry_keys=2), name="near")
    assert spans(far) == [(1, 0, 22, 23), (2, 0, 22, 23)]
    # carried from 20 to 15 (1 key frame: goes on), to 10 (2 key frames away: stops there)
    assert spans(near) == [(1, 0, 22, 23), (2, 10, 22, 13)]
    assert backend.propagations.count((10, 5, 1)) == 1  # object 1's own; object 2 is not carried on
    assert backend.propagations.count((15, 10, 1)) == 2  # object 1's, and object 2 carried


boxes_strategy = st.lists(
    st.tuples(st.integers(0, 30), st.integers(0, 50), st.integers(4, 12), st.integers(4, 12),   # y, x, h, w
              st.integers(-1, 1), st.integers(-1, 1),                                           # motion per frame
              st.integers(0, T - 1), st.integers(1, T),                                         # first frame, length
              st.booleans()),                                                                   # a near copy of the previous
    min_size=1, max_size=6)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(objects=boxes_strategy, missed=st.sets(st.tuples(st.integers(0, 5), st.sampled_from(key_frames(T, 5))),
                                               max_size=8))
def test_no_two_masks_of_one_frame_are_copies_in_any_run(tmp_path_factory, objects, missed):
    """Random objects (some near copies of another), random misses: tracks.json never holds two masks of
    one frame with IoU above copy_iou (0.9), hence never above 0.95."""
    truth = {}
    for n, (y, x, h, w, dy, dx, first, length, copy) in enumerate(objects):
        if copy and n:
            y, x, h, w, dy, dx, first, length, _ = objects[n - 1]
            h = max(h - 1, 3)   # the previous object minus a row: IoU >= 0.67, often above 0.9
        truth[n] = {t: box(SIZE, y + dy * t, x + dx * t, h, w) for t in range(first, min(first + length, T))}
    truth = {n: masks for n, masks in truth.items() if masks}
    run, _ = run_replay(tmp_path_factory.mktemp("copies"), truth, missed=missed)
    entries = json.loads((run.dir / "tracks.json").read_text())
    for t in range(T):
        rles = [rle_from_json(e["segmentations"][t]) for e in entries if e["segmentations"][t]]
        if len(rles) > 1:
            iou = iou_matrix(rles, rles)
            np.fill_diagonal(iou, 0)
            assert iou.max() <= CONFIG.copy_iou, (t, iou.max())


def test_an_object_that_comes_back_takes_its_id_back(tmp_path):
    # object 1 is occluded on frames 8-15 and comes back where it was; object 2 stays all along
    truth = {1: {t: box(SIZE, 20, 5, 10, 12) for t in range(T) if not 8 <= t <= 15},
             2: {t: box(SIZE, 2, 40, 8, 8) for t in range(T)}}
    run, _ = run_replay(tmp_path, truth, name="back")
    assert spans(run) == [(1, 0, 22, 15), (2, 0, 22, 23)]
    assert run.summary()["identity"]["reidentified"] == 1
    # re-identification off: two tracks
    run, _ = run_replay(tmp_path, truth, config=CONFIG.replace(reid_seconds=0.0), name="off")
    assert spans(run) == [(1, 0, 7, 8), (2, 0, 22, 23), (3, 16, 22, 7)]
    # a gap longer than reid_seconds (8 frames = 0.32 s at 25 fps): two tracks
    run, _ = run_replay(tmp_path, truth, config=CONFIG.replace(reid_seconds=0.3), name="short")
    assert len(run.tracks()) == 3


def test_an_object_crossing_behind_an_occluder_takes_its_id_back_where_its_motion_leads(tmp_path):
    # object 1 moves right 2 px a frame and is hidden on frames 8-15: it comes back 18 px (1.6 of
    # its sizes) from where it was last seen, too far for the blind "stayed" rule (0.5), at the
    # place its velocity predicts; object 2 stands still
    truth = {1: {t: box(SIZE, 20, 2 + 2 * t, 10, 12) for t in range(T) if not 8 <= t <= 15},
             2: {t: box(SIZE, 2, 44, 8, 8) for t in range(T)}}
    run, _ = run_replay(tmp_path, truth, name="moving")
    assert spans(run) == [(1, 0, 22, 15), (2, 0, 22, 23)]
    # one that comes back moving the other way (in the same place it left) keeps its id too
    back = {1: {t: box(SIZE, 20, 2 + 2 * t if t < 8 else 16 - (t - 16), 10, 12) for t in range(T)
                if not 8 <= t <= 15}}
    run, _ = run_replay(tmp_path, back, name="turned")
    assert [(t.first, t.last) for t in run.tracks()] == [(0, 22)]


def test_a_different_object_in_the_same_place_is_not_reidentified(tmp_path):
    # after the gap another object (twice as large, or far away) appears: without appearance descriptors
    # (the replay backend has none) only a near, same-shaped mask takes an id back
    bigger = {1: {t: box(SIZE, 20, 5, 10, 12) if t < 8 else box(SIZE, 15, 5, 20, 12) for t in range(T)
                  if not 8 <= t <= 15}}
    far = {1: {t: box(SIZE, 20, 5, 10, 12) if t < 8 else box(SIZE, 20, 45, 10, 12) for t in range(T)
               if not 8 <= t <= 15}}
    for name, truth in (("bigger", bigger), ("far", far)):
        run, _ = run_replay(tmp_path, truth, name=name)
        assert [(t.first, t.last) for t in run.tracks()] == [(0, 7), (16, 22)], name


def test_reid_follows_the_camera_and_the_appearance():
    from everymask.engine.reid import CameraPath, TrackEnds, reid_links
    from everymask.masks import boxes
    size = (60, 120)
    camera = CameraPath(50)
    for t in range(50):   # three still background regions drift right 1 px a frame: the camera pans left
        camera.add_frame(t, {100 + n: (10.0 + 30 * n + t, 5.0, 8.0) for n in range(3)})
    assert camera.offset[40].tolist() == [40.0, 0.0] and camera.log_zoom[40] == 0.0

    def ends(first, last, x, key):
        """A 10 x 12 box track at x; `key` is the pid of both its first and last generated masks."""
        rle = box(size, 30, x, 10, 12)
        b = boxes([rle])[0]
        return TrackEnds(first, last, b, b, rle, rle, 120.0 * (last - first + 1), last - first + 1, key, key)

    tracks = {1: ends(0, 10, 20, key=1),     # seen at x=20 until frame 10
              2: ends(40, 49, 50, key=2),    # at frame 40 the camera moved 30 px: x=50 is where 1 would be
              3: ends(40, 49, 20, key=3),    # where 1 was on screen, but the scene moved
              4: ends(40, 49, 52, key=4)}    # beside 2, another colour
    red, blue = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
    vectors = {1: red, 2: red, 3: red, 4: blue}
    links = reid_links(tracks, camera, vectors, max_gap=50, fps=25.0)
    assert [(a, b) for a, b, _ in links] == [(1, 2)]
    # 3 would be taken if the camera were ignored; without descriptors (blind) the gap needs the object near
    still = CameraPath(50)
    assert [(a, b) for a, b, _ in reid_links(tracks, still, {}, max_gap=50, fps=25.0)] == [(1, 3)]
