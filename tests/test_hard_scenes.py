"""Hard synthetic scenes: deterministic, small when asked, ground truth consistent and as designed
(clutter with parts, long absences that end with the same id, a degraded picture)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from everymask.testing.hard_scenes import PRESETS, SMALL, make_hard_scene

# the project's scorer: in ../shared next to the checkout, or where this workplace keeps it
SCORER = next((p for p in (Path(__file__).resolve().parents[2] / "shared/eval/score.py",
                           Path("/work/shared/eval/score.py")) if p.exists()),
              Path(__file__).resolve().parents[2] / "shared/eval/score.py")


@pytest.fixture(scope="module")
def small():
    return {name: make_hard_scene(name, small=True) for name in PRESETS}


@pytest.fixture(scope="module")
def long_scenes():
    """96 frames (the absences last over 50 frames only from 96 frames on) at a quarter of the pixels."""
    return {name: make_hard_scene(name, size=(120, 212)) for name in ("occlusion_return", "mixed")}


def test_deterministic_for_a_seed():
    a, b = make_hard_scene("mixed", small=True, seed=3), make_hard_scene("mixed", small=True, seed=3)
    c = make_hard_scene("mixed", small=True, seed=4)
    assert np.array_equal(a.frames, b.frames)
    assert a.to_ytvis() == b.to_ytvis()
    assert not np.array_equal(a.frames, c.frames)


def test_small_is_small(small):
    for name, s in small.items():
        assert s.frames.shape == (SMALL["num_frames"], *SMALL["size"], 3) == (32, 96, 160, 3), name
        assert s.frames.dtype == np.uint8
        src = s.source()
        assert len(src) == 32 and src.size == (96, 160) and src.fps == 25.0


def test_default_size_is_the_samples():
    s = make_hard_scene("clutter", num_frames=2)
    assert s.frames.shape == (2, 240, 426, 3)


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="clutter, occlusion_return, camera, mixed, sparse"):
        make_hard_scene("nope", small=True)


def test_clutter_of_objects_with_parts(small):
    for name, s in small.items():
        objects = [t for t in s.tracks if t.level == "object"]
        parts = [t for t in s.tracks if t.level == "part"]
        assert len(objects) == 4 if name == "sparse" else len(objects) >= 8, name
        assert [t.track_id for t in s.tracks] == list(range(1, len(s.tracks) + 1))
        counts = [sum(p.parent == o.track_id for p in parts) for o in objects]
        assert max(counts) <= 3, name
        if name != "camera":   # the camera preset may show an object only partly, one of its parts never
            assert min(counts) >= 2, (name, counts)
        assert {p.kind for p in parts} <= {"contrast", "hue", "shade", "texture", "subtle"}
        assert all(t.visible() for t in s.tracks), name   # no GT track that is never seen


def test_parts_inside_their_objects_and_objects_disjoint(small):
    for name, s in small.items():
        for p in (t for t in s.tracks if t.level == "part"):
            for f in p.visible():
                assert not (s.mask(p.track_id, f) & ~s.mask(p.parent, f)).any(), (name, p.track_id, f)
        objects = [t.track_id for t in s.tracks if t.level == "object"]
        for f in range(0, 32, 7):
            assert int(np.sum([s.mask(o, f) for o in objects], axis=0).max()) <= 1, (name, f)


def test_objects_enter_late_and_leave_early(small):
    for name in ("clutter", "occlusion_return", "mixed"):
        objects = [t for t in small[name].tracks if t.level == "object"]
        assert max(t.visible()[0] for t in objects) >= 5, name
        assert min(t.visible()[-1] for t in objects) <= 26, name


def test_objects_leave_or_hide_for_over_two_seconds_and_come_back(long_scenes):
    for name, s in long_scenes.items():
        gone = s.absences(50)
        assert len(gone) >= 2, (name, gone)          # one leaves the frame, one hides behind the house
        for tid, last, back in gone:
            tr = s.tracks[tid - 1]
            assert tr.level == "object" and back - last - 1 >= 50 and back < 95
            assert all(r is None for r in tr.rles[last + 1:back])
            assert tr.rles[last] is not None and tr.rles[back] is not None
        H, W = s.frames.shape[1:3]

        def at_border(tid: int, f: int) -> bool:
            ys, xs = np.nonzero(s.mask(tid, f))
            return ys.min() == 0 or xs.min() == 0 or ys.max() == H - 1 or xs.max() == W - 1

        left = [tid for tid, last, _ in gone if at_border(tid, last)]
        hidden = [tid for tid, last, _ in gone if not at_border(tid, last)]
        assert left and hidden, (name, gone)           # last seen at the border: left; inside: occluded


def test_sparse_has_few_things_that_enter_leave_and_come_back():
    """The sparse preset: four objects, one that enters late and one that leaves the frame for
    over two seconds and returns, on a background without stuff (panels, poles, pebbles)."""
    s = make_hard_scene("sparse", size=(120, 212))
    objects = [t for t in s.tracks if t.level == "object"]
    assert len(objects) == 4
    assert max(t.visible()[0] for t in objects) >= 20                # enters late
    gone = s.absences(30)
    assert len(gone) == 1 and gone[0][2] - gone[0][1] - 1 >= 2 * s.fps, gone


def test_picture_is_degraded(small):
    s = small["mixed"]
    means = s.frames.reshape(32, -1, 3).mean(1).mean(1)
    assert np.abs(np.diff(means)).mean() > 1.0       # flicker: brightness jumps from frame to frame
    assert len(np.unique(s.frames[0].reshape(-1, 3), axis=0)) > 2000   # texture and noise, not flat colours


def test_ground_truth_scores_perfectly_against_itself(small, tmp_path):
    spec = importlib.util.spec_from_file_location("everymask_score", SCORER)
    score = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(score)
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(small["occlusion_return"].to_ytvis()))
    res = score.score(str(gt), str(gt))
    for level in ("object", "part", "all"):
        assert res[level]["mSTIoU"] == pytest.approx(1.0) and res[level]["frag"] == 1.0 and res[level]["idsw"] == 0
    assert res["object"]["n"] == 12
