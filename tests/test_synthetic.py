"""Synthetic scenes: deterministic, ground truth consistent with the pictures, usable as a FrameSource."""
from __future__ import annotations

import numpy as np
import pytest

from everymask.masks import decode_one, rle_from_json
from everymask.testing.synthetic import SCENES, ArraySource, make_scene, write_frames, write_video


@pytest.fixture(scope="module")
def scenes():
    return {name: make_scene(name, num_frames=24) for name in SCENES}


def test_deterministic_for_a_seed():
    a, b = make_scene("pan", num_frames=6, seed=3), make_scene("pan", num_frames=6, seed=3)
    c = make_scene("pan", num_frames=6, seed=4)
    assert np.array_equal(a.frames, b.frames)
    assert a.to_ytvis() == b.to_ytvis()
    assert not np.array_equal(a.frames, c.frames)


def test_shapes_and_track_structure(scenes):
    for name, s in scenes.items():
        assert s.frames.shape == (24, 240, 426, 3) and s.frames.dtype == np.uint8
        objects = [t for t in s.tracks if t.level == "object"]
        parts = [t for t in s.tracks if t.level == "part"]
        assert len(objects) == 3, name
        for o in objects:                                   # every object has at least one part
            assert any(p.parent == o.track_id for p in parts), (name, o.track_id)
        assert all(len(t.masks) == 24 for t in s.tracks)
        assert [t.track_id for t in s.tracks] == list(range(1, len(s.tracks) + 1))


def test_parts_inside_parents(scenes):
    for s in scenes.values():
        by_id = {t.track_id: t for t in s.tracks}
        for p in (t for t in s.tracks if t.level == "part"):
            for pm, om in zip(p.masks, by_id[p.parent].masks):
                if pm is not None:
                    assert om is not None and not (pm & ~om).any()


def test_objects_do_not_overlap(scenes):
    """GT object masks are visible pixels: an occluded pixel belongs to the front object only."""
    for s in scenes.values():
        for t in range(0, 24, 5):
            stack = [o.masks[t] for o in s.tracks if o.level == "object" and o.masks[t] is not None]
            assert int(np.sum(stack, axis=0).max()) <= 1


def test_enter_exit_and_occlusion_happen():
    s = make_scene("enter_exit")                         # 40 frames
    first = [next(i for i, m in enumerate(t.masks) if m is not None) for t in s.tracks if t.level == "object"]
    last = [max(i for i, m in enumerate(t.masks) if m is not None) for t in s.tracks if t.level == "object"]
    assert min(first) == 0 and max(first) >= 10        # something enters late
    assert min(last) < 39                               # something leaves before the end
    occ = make_scene("occlusion")
    car = occ.tracks[2]                                 # the car drives behind the box
    area = [0 if m is None else int(m.sum()) for m in car.masks]
    assert min(area[10:30]) < 0.5 * max(area)


def test_thin_part_is_thin():
    s = make_scene("thin_parts", num_frames=2)
    handle = s.tracks[1].masks[0]
    assert s.tracks[1].level == "part" and handle is not None
    width = handle.sum(axis=1)
    assert 1 <= np.median(width[width > 0]) <= 8        # a few pixels wide


def test_to_ytvis_roundtrip(scenes):
    s = scenes["occlusion"]
    gt = s.to_ytvis()
    assert len(gt) == len(s.tracks)
    for e, t in zip(gt, s.tracks):
        assert e["video_id"] == 1 and e["track_id"] == t.track_id and e["level"] == t.level
        assert e["parent"] == t.parent
        for seg, m in zip(e["segmentations"], t.masks):
            if m is None:
                assert seg is None
            else:
                assert isinstance(seg["counts"], str) and seg["size"] == [240, 426]
                assert np.array_equal(decode_one(rle_from_json(seg)), m)


def test_array_source():
    frames = np.zeros((3, 8, 10, 3), np.uint8)
    frames[1] = 7
    src = ArraySource(frames, fps=10)
    assert len(src) == 3 and src.size == (8, 10) and src.input_size == (8, 10) and src.fps == 10.0
    assert int(src.frame(1)[0, 0, 0]) == 7
    assert src.fingerprint() == ArraySource(frames.copy()).fingerprint()
    with pytest.raises(IndexError):
        src.frame(3)
    with pytest.raises(ValueError):
        ArraySource(np.zeros((3, 8, 10), np.uint8))


def test_write_frames_is_lossless(tmp_path):
    import cv2
    s = make_scene("pan", num_frames=3)
    paths = write_frames(s, tmp_path)
    assert [p.name for p in paths] == ["00000.png", "00001.png", "00002.png"]
    back = cv2.cvtColor(cv2.imread(str(paths[2])), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, s.frames[2])


def test_write_video_is_near_lossless(tmp_path):
    import av
    s = make_scene("pan", num_frames=5)
    path = write_video(s, tmp_path / "pan.mp4")
    with av.open(str(path)) as f:
        got = [fr.to_ndarray(format="rgb24") for fr in f.decode(video=0)]
    assert len(got) == 5
    err = np.abs(np.stack(got).astype(int) - s.frames.astype(int))
    assert err.mean() < 2.0
