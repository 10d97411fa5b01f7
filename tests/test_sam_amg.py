"""The automatic mask generator's SAM 2 options (issue 12): stability default, mask-to-mask refinement,
small-region clean-up on low-res logits, and chunked NMS.

Most tests drive `AutomaticMaskGenerator` with a scripted `PromptModel` whose decoder returns set
logits, so the expected masks are exact; the refinement call itself is checked against
transformers' own single-frame forward on a tiny random SAM 2.
"""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from everymask.backends.sam import amg_ops as ops  # noqa: E402
from everymask.config import RunConfig  # noqa: E402
from everymask.masks import decode  # noqa: E402

amg = pytest.importorskip("everymask.backends.sam.amg")
from everymask.backends.sam.preprocess import upsample_logits  # noqa: E402

LOW = 16            # low-res side of the scripted model
FRAME = (32, 32)    # frame size: logits are upsampled 2x


class Scripted:
    """A `PromptModel` whose decoder returns given logits: `first` (3 x LOW x LOW) for every point on
    the first pass, `refine(mask_input)` on the m2m pass; records every call."""

    size = LOW
    squash = True
    device = torch.device("cpu")

    def __init__(self, first: torch.Tensor, first_iou: list[float], lowres_cleanup: bool = True,
                 refine=None, refine_iou: float = 0.9) -> None:
        self.first, self.first_iou, self.lowres_cleanup = first, torch.tensor(first_iou), lowres_cleanup
        self.refine, self.refine_iou = refine, refine_iou
        self.calls: list[tuple[torch.Tensor, torch.Tensor | None]] = []

    def encode(self, image: np.ndarray) -> None:
        return None

    def decode(self, feats, points, mask_input=None):
        self.calls.append((points.clone(), None if mask_input is None else mask_input.clone()))
        n = len(points)
        if mask_input is None:
            return self.first.expand(n, -1, -1, -1).clone(), self.first_iou.expand(n, -1).clone()
        return self.refine(mask_input)[:, None], torch.full((n, 1), self.refine_iou)


def generator(prompter: Scripted, **settings) -> "amg.AutomaticMaskGenerator":
    s = amg.AmgSettings(**{"points_per_side": 1, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0, **settings})
    return amg.AutomaticMaskGenerator(prompter, s, lambda key, load: prompter.encode(load()), contextlib.nullcontext)


def frame() -> np.ndarray:
    return np.zeros((*FRAME, 3), np.uint8)


def block(y0: int, x0: int, side: int, value: float = 8.0) -> torch.Tensor:
    x = torch.full((LOW, LOW), -value)
    x[y0:y0 + side, x0:x0 + side] = value
    return x


def dense(masks) -> np.ndarray:
    return decode(masks.rles, masks.size)


# -- defaults ---------------------------------------------------------------------------------

def test_stability_default_is_sams_for_both_backends() -> None:
    """0.95 in SAM2AutomaticMaskGenerator and SamAutomaticMaskGenerator alike, so one default."""
    for backend in ("sam2", "sam"):
        cfg = RunConfig(backend=backend)
        assert cfg.stability_score_thresh == 0.95
        s = amg.AmgSettings.from_config(cfg)
        assert (s.stability_score_thresh, s.pred_iou_thresh, s.use_m2m, s.min_mask_region_area) == (0.95, 0.8, False, 0)
    assert amg.AmgSettings().stability_score_thresh == RunConfig().stability_score_thresh
    assert amg.AmgSettings.from_config(RunConfig(backend="sam2", use_m2m=True)).use_m2m is True


# -- small-region clean-up on low-res logits -------------------------------------------------------

def test_lowres_cleanup_exact() -> None:
    """Islands and holes of at most max_area low-res pixels go (<=, as SAM 2), larger ones stay;
    components are 8-connected; cleaned pixels get threshold -+ 10 and nothing else changes."""
    x = torch.full((64, 64), -4.0)
    x[2:32, 2:32] = 4.0                 # a 900-px object ...
    x[5:6, 5:10] = -4.0                 # ... with a 5-px hole (filled)
    x[10:15, 10:20] = -4.0              # ... and a 50-px hole (kept)
    x[40:41, 40:45] = 4.0               # 5-px island (removed)
    x[50:55, 50:60] = 4.0               # 50-px island (kept)
    x[40:44, 55:60] = 4.0               # 20-px island: exactly max_area (removed)
    x[58:61, 2:6] = 4.0                 # two 12-px pieces touching at one corner: one 24-px
    x[61:64, 6:10] = 4.0                # 8-connected island (kept)
    want = x.clone()
    want[5:6, 5:10] = 10.0
    want[40:41, 40:45] = -10.0
    want[40:44, 55:60] = -10.0
    got = ops.fill_holes_and_sprinkles(torch.stack([x, -x]), 20)
    assert torch.equal(got[0], want)
    # the negated logits: every object above is a hole now; the frame-filling background is not small
    want_neg = -x.clone()
    for sl in [(slice(40, 41), slice(40, 45)), (slice(40, 44), slice(55, 60))]:
        want_neg[sl] = 10.0
    want_neg[5:6, 5:10] = -10.0
    assert torch.equal(got[1], want_neg)
    assert torch.equal(ops.fill_holes_and_sprinkles(x[None], 0)[0], x)  # 0: off


def test_lowres_cleanup_matches_sam2_formula_with_scipy() -> None:
    """A second labelling (scipy) of SAM 2's `postprocess_masks` formula on random smooth logits."""
    from scipy import ndimage

    g = torch.Generator().manual_seed(3)
    x = torch.nn.functional.interpolate(torch.randn(6, 1, 12, 12, generator=g), size=(48, 48), mode="bilinear",
                                        align_corners=False)[:, 0] * 5 + 0.3
    thr, area = 0.5, 30
    want = x.clone()
    for i in range(len(x)):
        for region, value in ((x[i] <= thr, thr + 10.0), (x[i] > thr, thr - 10.0)):
            labels, _ = ndimage.label(region.numpy(), structure=np.ones((3, 3)))
            sizes = np.bincount(labels.ravel())
            small = (labels > 0) & (sizes[labels] <= area)
            want[i][torch.from_numpy(small)] = value
    got = ops.fill_holes_and_sprinkles(x, area, thr)
    assert torch.equal(got, want)
    assert not torch.equal(got, x)  # the case does clean something


def test_sam2_cleanup_runs_on_lowres_logits_before_the_stability_filter() -> None:
    """An island makes a mask unstable; cleaned before the filter (SAM 2), the mask passes it."""
    logits = block(3, 3, 6)
    logits[12, 12] = 6.0                # a 1-px island; upsampled, between the stability cut-offs -1 and 1
    first = torch.stack([logits, block(0, 0, 2), block(0, 0, 2)])
    clean = ops.fill_holes_and_sprinkles(logits[None], 2)[0]
    up_raw, up_clean = (upsample_logits(v[None], FRAME, LOW, True) for v in (logits, clean))
    s_raw, s_clean = (float(ops.stability_score(u, 0.0, 1.0)[0]) for u in (up_raw, up_clean))
    assert s_raw < s_clean
    thresh = (s_raw + s_clean) / 2
    kept = generator(Scripted(first, [0.9, 0.1, 0.1]), pred_iou_thresh=0.5, stability_score_thresh=thresh,
                     min_mask_region_area=2).generate(0, frame())
    assert len(kept) == 1 and np.array_equal(dense(kept)[0], (up_clean[0] > 0).numpy())
    assert not dense(kept)[0][22:26, 22:26].any()  # where the island was
    dropped = generator(Scripted(first, [0.9, 0.1, 0.1]), pred_iou_thresh=0.5,
                        stability_score_thresh=thresh).generate(0, frame())
    assert len(dropped) == 0


def test_sam_keeps_its_full_resolution_cleanup_after_nms() -> None:
    """`--backend sam`: SAM's postprocess_small_regions on the frame-size masks (area in frame pixels)."""
    logits = block(3, 3, 6)
    logits[12, 12] = 8.0                # 1 low-res px -> a few frame px
    first = torch.stack([logits, block(0, 0, 2), block(0, 0, 2)])
    raw = (upsample_logits(logits[None], FRAME, LOW, True)[0] > 0).numpy()
    want, changed = ops.remove_small_regions(raw, 10, "holes")
    want, changed2 = ops.remove_small_regions(want, 10, "islands")
    assert changed2 and raw[22:26, 22:26].any()
    p = Scripted(first, [0.9, 0.1, 0.1], lowres_cleanup=False)
    got = generator(p, pred_iou_thresh=0.5, min_mask_region_area=10).generate(0, frame())
    assert len(got) == 1 and np.array_equal(dense(got)[0], want)
    assert not dense(got)[0][20:28, 20:28].any()


# -- mask-to-mask refinement -------------------------------------------------------------------

def test_m2m_reprompts_each_mask_with_its_point_and_clamped_logits() -> None:
    """SAM 2's `use_m2m`: every first-pass mask (before any filter) goes back with its own point and
    its logits clamped to +-32; the refined masks and IoUs are what the filters then see."""
    first = torch.stack([block(1, 1, 4, 50.0), block(9, 1, 4, 50.0), block(1, 9, 4, 50.0)])
    shift = lambda m: torch.roll(m, 2, dims=-1)  # noqa: E731 - the scripted "refinement"
    p = Scripted(first, [0.1, 0.2, 0.3], refine=shift, refine_iou=0.9)
    got = generator(p, pred_iou_thresh=0.5, use_m2m=True).generate(0, frame())
    (pts1, none), (pts2, mask_in) = p.calls
    assert none is None and torch.equal(pts2, pts1.repeat_interleave(3, 0))
    assert torch.equal(mask_in, first.clamp(-32, 32)) and mask_in.abs().max() == 32
    want = (upsample_logits(shift(first.clamp(-32, 32)), FRAME, LOW, True) > 0).numpy()
    assert np.array_equal(dense(got), want) and np.allclose(got.scores, 0.9)
    # without refinement the first-pass IoUs (all under 0.5) drop everything, and no second call is made
    p0 = Scripted(first, [0.1, 0.2, 0.3], refine=shift)
    assert len(generator(p0, pred_iou_thresh=0.5).generate(0, frame())) == 0 and len(p0.calls) == 1


@pytest.mark.slow
def test_sam2_m2m_decode_matches_transformers_single_frame_forward() -> None:
    """The batched point + mask decode equals transformers' own `_single_frame_forward` with the same
    prompts (one point and one mask per batch entry, one mask out)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import sam_fixtures as F

    torch.manual_seed(0)
    model = F.build("sam2")
    p = amg.Sam2Prompter(model, torch.device("cpu"))
    feats = p.encode(F.clip(1, size=(96, 128))[0])
    points = torch.tensor([[10.0, 20.0], [60.0, 30.0], [100.0, 100.0], [5.0, 120.0]])
    low, _ = p.decode(feats, points)
    mask_in = low[:, 1].clamp(-32, 32)
    got, got_iou = p.decode(feats, points, mask_in)
    assert got.shape == (4, 1, *low.shape[-2:]) and got_iou.shape == (4, 1)
    emb = [e.expand(len(points), -1, -1, -1) for e in p.image_embeddings(feats)]
    with torch.inference_mode():
        ref = model._single_frame_forward(input_points=points[:, None, None, :],
                                          input_labels=torch.ones(4, 1, 1, dtype=torch.int32),
                                          input_masks=mask_in[:, None], image_embeddings=emb, multimask_output=False)
    assert torch.allclose(got[:, 0], ref.pred_masks[:, 0].float(), atol=1e-5)
    assert torch.allclose(got_iou, ref.iou_scores[:, 0].float(), atol=1e-5)
    other, _ = p.decode(feats, points, -mask_in)
    assert not torch.allclose(other, got, atol=1e-3)  # the mask prompt is used


# -- chunked NMS ----------------------------------------------------------------------------------

def random_masks(n: int, hw: tuple[int, int], seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    h, w = hw
    out = np.zeros((n, h, w), bool)
    yy, xx = np.mgrid[:h, :w]
    for i in range(n):
        for _ in range(rng.integers(1, 3)):  # one or two ellipses per mask
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            ry, rx = rng.uniform(2, h / 3), rng.uniform(2, w / 3)
            out[i] |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    return torch.from_numpy(out)


@pytest.mark.parametrize("threshold", [0.3, 0.7])
def test_chunked_nms_equals_unchunked_on_random_masks(threshold: float) -> None:
    masks = random_masks(600, (60, 80), seed=1)
    boxes = ops.mask_to_box(masks)
    scores = torch.from_numpy(np.random.default_rng(2).integers(0, 20, 600) / 20).float()  # many ties
    whole = ops.nms(boxes, scores, threshold, chunk=len(boxes)).tolist()
    assert 20 < len(whole) < 600
    for chunk in (1, 7, 64, 599):
        assert ops.nms(boxes, scores, threshold, chunk=chunk).tolist() == whole
    iou, ref = ops.box_iou(boxes.double(), boxes.double()), []  # greedy by hand
    for i in torch.argsort(scores, descending=True, stable=True).tolist():
        if all(iou[i, j] <= threshold for j in ref):
            ref.append(i)
    assert whole == ref
