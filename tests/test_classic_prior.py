"""The classic generator re-finds its prior (the masks tracked into a key frame) where the image
still supports them, drops them where it does not, and is unchanged without one."""
from __future__ import annotations

import numpy as np
import pytest

from everymask import RunConfig
from everymask.backends.classic import load_classic_backend
from everymask.backends.classic.flow import snap_to_superpixels
from everymask.backends.classic.regions import border_stats, mask_nms, masks_to_rows, region_graph
from everymask.backends.classic.segment import PRIOR_SLACK, lab_image
from everymask.masks import Masks, iou_matrix
from everymask.testing.synthetic import ArraySource, make_scene

CFG = RunConfig()


@pytest.fixture(scope="module")
def pan():
    return make_scene("pan", num_frames=6)


@pytest.fixture(scope="module")
def plain(pan):
    """Prior-free masks of frames 0 and 5."""
    gen = load_classic_backend(CFG).generator
    return gen.generate(0, pan.frames[0]), gen.generate(5, pan.frames[5])


def _same(a: Masks, b: Masks) -> bool:
    return a.rles == b.rles and np.array_equal(a.scores, b.scores) and np.array_equal(a.ids, b.ids)


def test_masks_to_rows_majority_vote():
    labels = np.array([[0, 0, 1, 1],
                       [0, 0, 1, 1],
                       [2, 2, 2, 2]], np.int32)
    dense = np.zeros((3, 3, 4), bool)
    dense[0, :2, :2] = True                 # superpixel 0 exactly
    dense[1, :2, :3] = True                 # 0 and half of 1 (a tie joins)
    dense[2, 2, :1] = True                  # a quarter of 2: nothing
    rows, fit = masks_to_rows(dense, labels, 3)
    assert rows.tolist() == [[True, False, False], [True, True, False], [False, False, False]]
    assert fit.tolist() == [1.0, 0.75, 0.0]


def test_no_prior_and_empty_prior_give_the_prior_free_output(pan, plain):
    gen = load_classic_backend(CFG).generator
    assert _same(gen.generate(0, pan.frames[0], None), plain[0])
    assert _same(gen.generate(0, pan.frames[0], Masks.empty(plain[0].size)), plain[0])


def test_prior_on_an_unchanged_image_is_refound_exactly(pan, plain):
    """Every mask given back on the image it was cut from comes out again, pixel for pixel."""
    again = load_classic_backend(CFG).generator.generate(0, pan.frames[0], plain[0])
    iou = iou_matrix(plain[0].rles, again.rles)
    assert (iou.max(1) == 1.0).all()


def test_the_order_of_the_prior_does_not_matter(pan, plain):
    backend = load_classic_backend(CFG)
    arrivals = dict(backend.propagator.propagate(ArraySource(pan.frames), 0, 5, plain[0]))[5]
    a = backend.generator.generate(5, pan.frames[5], arrivals)
    b = backend.generator.generate(5, pan.frames[5], arrivals.select(np.arange(len(arrivals))[::-1]))
    assert _same(a, b)


def test_propagated_masks_are_refound_more_often(pan, plain):
    """Frame 0's masks carried by flow to frame 5: the prior-free cut of frame 5 re-finds 15 of
    32 at match_iou, the cut given them as its prior 18 (most others shrank to slivers, or are
    smaller than the superpixels under them and went on unsnapped)."""
    backend = load_classic_backend(CFG)
    arrivals = dict(backend.propagator.propagate(ArraySource(pan.frames), 0, 5, plain[0]))[5]
    with_prior = backend.generator.generate(5, pan.frames[5], arrivals)

    def refound(masks: Masks) -> int:
        return int((iou_matrix(arrivals.rles, masks.rles).max(1) >= CFG.match_iou).sum())

    assert len(arrivals) == 32
    assert (refound(plain[1]), refound(with_prior)) == (15, 18)


def test_prior_just_under_the_stability_threshold_is_kept(pan, plain):
    """Hysteresis: a region whose stability is within PRIOR_SLACK under the threshold is not
    generated afresh, but kept when it comes as a prior."""
    gen = load_classic_backend(CFG).generator
    sp = gen.cache.get(0, pan.frames[0])
    g = region_graph(sp, lab_image(pan.frames[0]))
    # unions of a generated mask's superpixels with one neighbouring superpixel: find one the
    # hysteresis decides on
    rows, _ = masks_to_rows(plain[0].to_dense(), sp.labels, sp.count)
    adj = np.zeros((sp.count, sp.count), bool)
    adj[g.edges[:, 0], g.edges[:, 1]] = adj[g.edges[:, 1], g.edges[:, 0]] = True
    cands = [r | (np.arange(sp.count) == j) for r in rows for j in np.flatnonzero(adj[r].any(0) & ~r)]
    cands = np.array(cands)
    score, stability, _ = border_stats(cands, g)
    ok_new, _ = gen._usable(cands, g, sp.labels.shape)
    ok_prior, _ = gen._usable(cands, g, sp.labels.shape, PRIOR_SLACK)
    band = Masks.from_dense(cands[ok_prior & ~ok_new][:, sp.labels], ids=range(int((ok_prior & ~ok_new).sum())))
    new = np.flatnonzero(iou_matrix(band.rles, plain[0].rles).max(1) < CFG.match_iou)
    assert len(new), "no candidate in the hysteresis band"
    prior = band.select(new[:1])
    out = gen.generate(0, pan.frames[0], prior)
    assert iou_matrix(prior.rles, out.rles).max() == 1.0


def test_prior_over_a_uniform_area_is_dropped(pan, plain):
    """The car and its surroundings painted over with flat grey: its prior mask is not found
    there, and a prior on a flat frame changes nothing."""
    car = pan.tracks[0].masks[0]
    ys, xs = np.nonzero(car)
    img = pan.frames[0].copy()
    img[max(ys.min() - 20, 0):ys.max() + 20, max(xs.min() - 20, 0):xs.max() + 20] = 128
    gen = load_classic_backend(CFG).generator
    fresh = gen.generate(0, img)
    car_prior = Masks.from_dense(car[None], ids=[0])
    out = gen.generate(0, img, car_prior)
    assert iou_matrix(car_prior.rles, out.rles).max() < 0.5
    flat = np.full_like(img, 128)
    blank = gen.generate(0, flat)
    assert len(blank) == 0
    assert _same(gen.generate(0, flat, plain[0]), blank)
    assert _same(out, fresh)


def test_prior_of_another_size_is_refused(pan):
    gen = load_classic_backend(CFG).generator
    with pytest.raises(ValueError, match=r"prior masks of size \(10, 10\) for a frame of size \(240, 426\)"):
        gen.generate(0, pan.frames[0], Masks.from_dense(np.ones((1, 10, 10), bool), ids=[0]))


def test_snap_to_superpixels_is_a_majority_vote():
    """Two superpixels of 4 px; mask A covers 3 px of the first, mask B all of the first and 1 px
    of the second: both snap to the first superpixel exactly (the rule `masks_to_rows` shares)."""
    labels = np.array([[0, 0, 1, 1],
                       [0, 0, 1, 1]], np.int32)
    dense = np.zeros((2, 2, 4), bool)
    dense[0, 0, :2] = dense[0, 1, 0] = True
    dense[1, :, :2] = dense[1, 0, 2] = True
    packed = np.packbits(dense.transpose(0, 2, 1), axis=0)          # N x W x H, packed over N
    out = snap_to_superpixels(packed, 2, np.ascontiguousarray(labels.T), 2)
    snapped = np.unpackbits(out, axis=0, count=2).transpose(0, 2, 1).astype(bool)
    whole = labels == 0
    assert (snapped == np.stack([whole, whole])).all()
    rows, fit = masks_to_rows(dense, labels, 2)
    assert rows.tolist() == [[True, False], [True, False]] and fit.tolist() == [0.75, 0.8]


def test_snap_keeps_a_mask_the_vote_would_empty_unless_it_shrank():
    """One superpixel of 16 px: a 3 px mask loses the vote and stays as it was, a 9 px mask wins it
    and becomes the superpixel, an empty mask stays empty; the same 3 px mask that was 7 px where
    its propagation started (its thing is leaving) is emptied. Two superpixels of 8 px: a mask of
    3 + 3 px keeps neither and stays as it was; one of 3 + 4 px keeps the second (8 px, more than
    half of its 7 px) and is snapped to it. Without seed areas the vote alone decides."""
    def snap(dense: np.ndarray, labels: np.ndarray, seed_areas: object = "unchanged") -> np.ndarray:
        seed_areas = dense.sum((1, 2)) if isinstance(seed_areas, str) else seed_areas
        out = snap_to_superpixels(np.packbits(dense.transpose(0, 2, 1), axis=0), len(dense),
                                  np.ascontiguousarray(labels.T), int(labels.max()) + 1, seed_areas)
        return np.unpackbits(out, axis=0, count=len(dense)).transpose(0, 2, 1).astype(bool)

    dense = np.zeros((4, 4, 4), bool)
    dense[0, 0, :3] = dense[3, 0, :3] = True
    dense[1, :3, :3] = True
    one = np.zeros((4, 4), np.int32)
    snapped = snap(dense, one, np.array([3, 9, 0, 7]))
    assert (snapped[0] == dense[0]).all() and snapped[1].all() and not snapped[2].any() and not snapped[3].any()
    assert not snap(dense, one, None)[0].any()
    halves = np.repeat(np.array([[0, 0, 1, 1]], np.int32), 4, axis=0)
    thin = np.zeros((2, 4, 4), bool)
    thin[:, :, 1:3] = True
    thin[:, 0, 1] = False                          # 3 px of the left half in both
    thin[0, 0, 2] = False                          # 3 px of the right half in the first
    snapped = snap(thin, halves)
    assert (snapped[0] == thin[0]).all()
    assert (snapped[1] == (halves == 1)).all()


def test_nms_free_candidates_do_not_count_against_the_cap():
    members = np.eye(4, dtype=bool)                                 # four disjoint candidates
    sizes = np.ones(4)
    order = np.arange(4)
    free = np.array([False, True, False, True])
    assert mask_nms(members, sizes, order, 0.8, 1) == [0]
    assert mask_nms(members, sizes, order, 0.8, 1, free) == [0, 1, 3]
    assert mask_nms(members, sizes, order, 0.8, 1, free, total=2) == [0, 1]
    over = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 1, 1]], bool)  # 0 and 1 overlap, IoU 2/3
    assert mask_nms(over, sizes, np.arange(3), 0.5, 1, np.array([False, False, True])) == [0, 2]


def test_small_arrivals_the_superpixels_cannot_hold_take_no_room(pan):
    """Frame 5's own cut given back as its prior (all re-found, so 10 new masks fit beside them at
    max_masks 30, a budget of 10), plus 60 arrivals of 2 x 2 px, smaller than any superpixel (the
    propagator's snap lets such masks go on unsnapped): they can never be re-found and must not
    take the room of new masks (30 less twice the arrivals not re-found), so the cut is the same."""
    gen = load_classic_backend(RunConfig(max_masks=30)).generator
    own = gen.generate(5, pan.frames[5])
    dots = np.zeros((60, *own.size), bool)
    for i in range(60):
        y, x = 20 + 30 * (i // 12), 20 + 30 * (i % 12)
        dots[i, y:y + 2, x:x + 2] = True
    crowded = Masks.concat([own, Masks.from_dense(dots, ids=range(1000, 1060))])
    a, b = gen.generate(5, pan.frames[5], own), gen.generate(5, pan.frames[5], crowded)
    assert len(own) == 10 and len(a) == 19 and _same(a, b)


def test_room_leaves_space_for_the_arrivals_not_refound():
    """max_masks 144: 40 of 60 arrivals re-found, 60 new masks kept: 100 + 2 x 20 lost fit; with
    80 arrivals (40 lost) only 144 - 80 = 64 do, and never fewer than the budget of 48."""
    gen = load_classic_backend(CFG).generator
    kept_prior = np.r_[np.ones(40, bool), np.zeros(60, bool)]
    assert gen._room(kept_prior, 60, 48) == 100
    assert gen._room(kept_prior, 80, 48) == 64
    assert gen._room(kept_prior, 140, 48) == 48
    assert gen._room(np.zeros(0, bool), 5, 48) == 0
