"""Classic backend on the synthetic scenes: nested masks, mask quality, propagation, ending, determinism."""
from __future__ import annotations

import numpy as np
import pytest

from everymask import RunConfig
from everymask.backends import load_backend
from everymask.backends.classic import load_classic_backend
from everymask.backends.classic.regions import merge_tree, region_graph, tree_members
from everymask.backends.classic.segment import lab_image
from everymask.backends.classic.superpixels import compute_superpixels
from everymask.masks import Masks, decode, encode, iou_matrix
from everymask.testing.synthetic import ArraySource, make_scene

CFG = RunConfig()


@pytest.fixture(scope="module")
def pan():
    return make_scene("pan", num_frames=40)


@pytest.fixture(scope="module")
def pan_masks(pan):
    return load_classic_backend(CFG).generator.generate(0, pan.frames[0])


def best_iou(gt: np.ndarray, masks: Masks) -> tuple[float, int]:
    iou = iou_matrix(encode(gt), masks.rles)[0]
    return float(iou.max()), int(iou.argmax())


def test_registry_loads_classic():
    backend = load_backend(RunConfig(backend="classic"))
    assert backend.name == "classic"
    assert set(backend.stats()) >= {"flows_computed", "flow_cache_hits", "generate_s", "propagate_s"}


def test_generator_output_contract(pan, pan_masks):
    m = pan_masks
    h, w = pan.frames.shape[1:3]
    assert m.size == (h, w)
    assert list(m.ids) == list(range(len(m)))
    assert 10 <= len(m) <= CFG.max_masks
    assert m.areas.min() >= CFG.min_area * h * w
    assert ((m.scores >= 0) & (m.scores <= 1)).all()


def test_textured_objects_and_parts_are_found(pan, pan_masks):
    """The car and the crate (textured, shaded, with parts) are found whole (IoU >= 0.95), and the
    GT masks of the first frame have a generated mask with IoU 0.85 on average (8 tracks; the
    ball, cut in two by a bright stripe, is the weak one)."""
    ious = {t.track_id: best_iou(t.masks[0], pan_masks)[0] for t in pan.tracks}
    assert ious[1] >= 0.95 and ious[5] >= 0.95, ious
    assert np.mean(list(ious.values())) >= 0.85, ious
    assert sum(v >= 0.8 for v in ious.values()) >= 7, ious


def test_nested_masks_part_inside_whole(pan, pan_masks):
    """The crate and its logo are both returned, the logo's mask lying inside the crate's."""
    crate, logo = pan.tracks[4], pan.tracks[5]
    assert crate.level == "object" and logo.parent == crate.track_id
    _, i = best_iou(crate.masks[0], pan_masks)
    _, j = best_iou(logo.masks[0], pan_masks)
    assert i != j
    dense = decode([pan_masks.rles[i], pan_masks.rles[j]])
    assert (dense[1] & ~dense[0]).sum() == 0 and dense[1].sum() < 0.5 * dense[0].sum()


def test_hierarchy_is_a_tree_with_one_root():
    s = make_scene("thin_parts", num_frames=1)
    sp = compute_superpixels(s.frames[0])
    g = region_graph(sp, lab_image(s.frames[0]))
    for linkage in ("ward", "boundary"):
        children, _ = merge_tree(g, linkage)
        assert len(children) == sp.count - 1                     # a connected graph: one root
        members = tree_members(sp.count, children)
        assert members[-1].all()
        for k, (a, b) in enumerate(children):                    # children are disjoint halves
            assert not (members[a] & members[b]).any()


def _propagate(scene, start: int, stop: int, track_ids: list[int], backend=None):
    backend = backend or load_classic_backend(CFG)
    tracks = [scene.tracks[t - 1] for t in track_ids]
    seeds = Masks.from_dense(np.stack([t.masks[start] for t in tracks]), ids=track_ids)
    return dict(backend.propagator.propagate(ArraySource(scene.frames), start, stop, seeds)), backend


@pytest.mark.parametrize("start,stop", [(0, 5), (0, 10), (20, 15), (20, 10)])
def test_translating_objects_keep_their_masks(pan, start, stop):
    """Camera pan: every object translates 3 px a frame; propagated masks stay on them."""
    ids = [1, 5, 7]                                              # car, crate, ball
    out, _ = _propagate(pan, start, stop, ids)
    assert sorted(out) == (list(range(start + 1, stop + 1)) if stop > start else list(range(stop, start)))
    got = out[stop]
    for k, tid in enumerate(ids):
        iou = iou_matrix(encode(pan.tracks[tid - 1].masks[stop]), [got.rles[list(got.ids).index(tid)]])[0, 0]
        assert iou >= 0.9, (tid, iou)


def test_object_leaving_the_frame_ends():
    """The crate of enter_exit leaves on the right around frame 27: its mask falls under vanish."""
    s = make_scene("enter_exit", num_frames=40)
    crate = s.tracks[4]
    assert crate.masks[20] is not None and crate.masks[32] is None
    out, _ = _propagate(s, 20, 32, [5])
    h, w = s.frames.shape[1:3]
    areas = [int(out[t].areas[0]) if len(out[t]) else 0 for t in range(21, 33)]
    assert areas[0] > 1000
    assert areas[-1] < CFG.vanish_area * h * w


def test_flows_are_shared_between_directions(pan):
    out, backend = _propagate(pan, 0, 5, [5])
    list(backend.propagator.propagate(ArraySource(pan.frames), 5, 0, out[5]))
    st = backend.stats()
    assert st["flows_computed"] == 5 and st["flow_cache_hits"] == 5
    assert st["propagate_frames"] == 10


def test_deterministic(pan):
    a = load_classic_backend(CFG).generator.generate(3, pan.frames[3])
    b = load_classic_backend(CFG).generator.generate(3, pan.frames[3])
    assert a.rles == b.rles and np.array_equal(a.scores, b.scores)
    pa, _ = _propagate(pan, 0, 5, [1, 5])
    pb, _ = _propagate(pan, 0, 5, [1, 5])
    assert all(pa[t].rles == pb[t].rles for t in pa)


def test_empty_seeds_and_zero_length():
    s = make_scene("pan", num_frames=3)
    backend = load_classic_backend(CFG)
    src = ArraySource(s.frames)
    assert list(backend.propagator.propagate(src, 0, 2, Masks.empty((240, 426)))) == []
    seeds = Masks.from_dense(s.tracks[0].masks[0][None], ids=[7])
    assert list(backend.propagator.propagate(src, 1, 1, seeds)) == []


def test_superpixel_cache_is_not_fooled_by_another_video():
    a, b = make_scene("pan", num_frames=1), make_scene("occlusion", num_frames=1)
    backend = load_classic_backend(CFG)
    ma = backend.generator.generate(0, a.frames[0])
    mb = backend.generator.generate(0, b.frames[0])
    fresh = load_classic_backend(CFG).generator.generate(0, b.frames[0])
    assert mb.rles == fresh.rles and ma.rles != mb.rles
    assert backend.stats()["superpixels_computed"] == 2


def test_background_likelihood_is_boundary_connectivity():
    """A ring along the frame's edge is background; a closed region inside is not; one entering the
    frame (touching it along a short stretch) only a little."""
    from everymask.backends.classic.regions import background_likelihood, region_graph
    from everymask.backends.classic.superpixels import Superpixels
    labels = np.zeros((20, 20), np.int32)          # 0: a 2 px ring along the frame's edge
    labels[2:18, 2:18] = 1                         # 1: inside, closed
    labels[8:12, 0:2] = 2                          # 2: enters the frame through 4 px of its left edge
    g = region_graph(Superpixels(labels, 3), np.zeros((20, 20, 3), np.float32))
    bg = background_likelihood(np.eye(3, dtype=bool), labels, g)
    ring_edge = np.count_nonzero(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]) == 0)
    ring_bc = ring_edge / np.sqrt(np.count_nonzero(labels == 0))
    assert bg[0] == pytest.approx(1 - np.exp(-ring_bc ** 2 / 2)) and bg[0] > 0.99
    assert bg[1] == 0.0
    assert bg[2] == pytest.approx(1 - np.exp(-(4 / np.sqrt(8)) ** 2 / 2))   # 4 edge px, area 8


def test_things_first_gives_a_one_mask_budget_to_the_square_not_the_wall():
    """Four quadrants of colour (each runs along the frame's edge) and a bright square inside one:
    by contrast alone the left half wins the only slot; with --things-first the square does."""
    from everymask.backends.classic.segment import SegmentGenerator
    from everymask.backends.classic.superpixels import SuperpixelCache
    img = np.zeros((60, 80, 3), np.uint8)
    img[:, 40:] = 110
    img[:30, :] += 40
    img[22:38, 52:68] = 200
    img = np.clip(img.astype(int) + np.random.default_rng(0).integers(-3, 4, img.shape), 0, 255).astype(np.uint8)
    kept = {}
    for things_first in (False, True):
        gen = SegmentGenerator(RunConfig(max_masks=3, things_first=things_first), SuperpixelCache())  # budget 1
        masks = gen.generate(0, img)
        kept[things_first] = [b.tolist() for b in masks.boxes]
    assert kept == {False: [[0.0, 0.0, 40.0, 60.0]], True: [[52.0, 22.0, 16.0, 16.0]]}


def test_by_default_half_of_the_budget_goes_to_things():
    """The scene above with a budget of two: the first place goes by contrast (the left half, a
    wall), the second by the things ranking (the square), where contrast alone gives both to walls."""
    from everymask.backends.classic.segment import SegmentGenerator
    from everymask.backends.classic.superpixels import SuperpixelCache
    img = np.zeros((60, 80, 3), np.uint8)
    img[:, 40:] = 110
    img[:30, :] += 40
    img[22:38, 52:68] = 200
    img = np.clip(img.astype(int) + np.random.default_rng(0).integers(-3, 4, img.shape), 0, 255).astype(np.uint8)
    square = [52.0, 22.0, 16.0, 16.0]
    gen = SegmentGenerator(RunConfig(max_masks=6), SuperpixelCache())   # budget 2
    boxes = [b.tolist() for b in gen.generate(0, img).boxes]
    assert boxes[0] == [0.0, 0.0, 40.0, 60.0] and boxes[1] == square


def test_take_turns_alternates_two_rankings_and_keeps_fixed_places():
    from everymask.backends.classic.segment import take_turns
    fixed = np.array([False, False, True, False, False])
    first, second = np.array([2, 0, 1, 3, 4]), np.array([4, 3, 2, 1, 0])
    # 2 is fixed and keeps first place; the other places go 0 (first), 4 (second), 1 (first), 3 (second)
    assert take_turns(first, second, fixed).tolist() == [2, 0, 4, 1, 3]
    assert take_turns(first, first, fixed).tolist() == first.tolist()
