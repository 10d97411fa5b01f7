"""benchmarks/identity_metrics.py and identity.py's readers give exact figures on hand-built runs."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from everymask.masks import Masks, encode, rle_to_json
from everymask.store import RunStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import identity  # noqa: E402
import identity_metrics as im  # noqa: E402

H, W = 30, 30


def box(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


SQUARE = box(0, 20, 0, 20)                       # 400 px
NEAR = box(0, 20, 0, 19)                         # 380 px, minus 10 below: 370 px, IoU 0.925 with SQUARE
NEAR[0, :10] = False
FAR = box(22, 30, 22, 30)


def entry(track_id: int, masks: list, parent: int | None = None) -> dict:
    return {"video_id": 0, "track_id": track_id, "category_id": 1, "parent": parent,
            "segmentations": [None if m is None else rle_to_json(encode(m)[0]) for m in masks]}


COPY_TRACKS = [entry(1, [SQUARE, SQUARE, SQUARE]),
               entry(2, [SQUARE, NEAR, None]),     # a copy of 1 on frame 0 (IoU 1), near one on frame 1 (0.925)
               entry(3, [FAR, FAR, None])]


def test_near_copy_shares():
    assert im.iou_matrix([encode(SQUARE)[0]], [encode(NEAR)[0]])[0, 0] == pytest.approx(0.925)
    shares = im.near_copy_shares(im.frames_of_tracks(COPY_TRACKS), (0.95, 0.9))
    assert shares == {0.95: pytest.approx(2 / 7), 0.9: pytest.approx(4 / 7)}   # 7 masks on 3 frames
    assert im.near_copy_shares([], (0.95,)) == {0.95: 0.0}


def test_masks_per_frame():
    assert im.masks_per_frame(im.frames_of_tracks(COPY_TRACKS)) == {"mean": pytest.approx(7 / 3), "max": 3}


def test_track_lengths():
    def seen(frames: list[int]) -> dict:
        return entry(len(frames), [SQUARE if f in frames else None for f in range(30)])
    tracks = [seen([0, 1, 2]), seen([5, 6]), seen([0, 20]), seen(list(range(10, 21)) + [21])]
    tracks[-1]["segmentations"][15] = None           # 11 visible frames over a span of 12
    tracks.append(entry(99, [None] * 30))            # never visible: not a track
    stats = im.track_length_stats(tracks)
    assert stats == {"tracks": 4, "median_length": 7.5, "short_share": 0.75}   # spans 3, 2, 21, 12


def test_key_frames():
    assert im.key_frames(10, 5) == [0, 5, 9]
    assert im.key_frames(11, 5) == [0, 5, 10]
    assert im.key_frames(1, 5) == [0]


def rle(m: np.ndarray) -> dict:
    return encode(m)[0]


SIXTY = box(0, 20, 8, 20)                        # 240 px inside SQUARE: IoU 0.6


def test_refind_one_to_one():
    generated = {0: [(0, rle(SQUARE)), (1, rle(FAR)), (2, rle(box(25, 30, 0, 5)))],
                 5: [(500000, rle(SQUARE)), (500001, rle(SIXTY))], 9: []}
    arrivals = {5: [(0, rle(SQUARE)), (1, rle(SQUARE))],     # two arrivals, one key-frame mask: one re-found
                9: [(500000, rle(SQUARE))]}                   # nothing generated on 9
    res = im.refind(generated, arrivals, [0, 5, 9], (0.8, 0.5))
    assert res["generated"] == 5 and res["arrived"] == 3
    assert res["refound"] == {0.8: 1, 0.5: 2}                # the second copy pairs with SIXTY (IoU 0.6)
    assert res["rate"] == {0.8: pytest.approx(1 / 3), 0.5: pytest.approx(2 / 3)}


def make_run(tmp_path: Path, tracks: list[dict], rows: list[tuple[int, Masks]], num_frames: int = 10) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    store = RunStore.open(run)
    store.update_state(config=json.dumps({"step": 5, "match_iou": 0.8}), size=(H, W), num_frames=num_frames)
    store.commit_unit("all", "generate", len(rows), 0.0, rows)
    store.close()
    (run / "tracks.json").write_text(json.dumps(tracks))
    return run


def row(frame: int, pid: int, direction: int, m: np.ndarray) -> tuple[int, Masks]:
    """(frame, one mask) as a unit commits it."""
    return frame, Masks(size=m.shape, ids=[pid], rles=[rle(m)], scores=[1.0], data={"direction": [direction]})


def test_store_refind_reads_only_generated_masks_carried_one_key_frame(tmp_path):
    rows = [row(0, 0, 0, SQUARE), row(0, 1, 0, FAR),
            row(3, 0, 1, SQUARE), row(3, 1, 1, FAR),               # between key frames: ignored
            row(5, 0, 1, NEAR), row(5, 1, 1, FAR),                 # arrivals at 5 from 0
            row(5, 500000, 0, SQUARE), row(5, 500001, 0, box(22, 30, 22, 27)),   # FAR vs this: IoU 0.625
            row(0, 500001, -1, FAR),                               # a backward arrival: ignored
            row(9, 1, 1, FAR),                                     # carried from 0 past 5: not 5's masks
            row(9, 900000, 0, FAR)]
    run = make_run(tmp_path, COPY_TRACKS, rows)
    res = identity.store_refind(run / "everymask.sqlite")
    assert (res["generated"], res["arrived"], res["match_iou"]) == (4, 2, 0.8)
    assert res["refound"] == {0.8: 1, 0.5: 2}


def test_measure_run(tmp_path):
    rows = [row(0, 0, 0, SQUARE), row(5, 0, 1, SQUARE), row(5, 500000, 0, SQUARE)]
    tracks = [entry(1, [SQUARE] * 10), entry(2, [SQUARE, NEAR] + [None] * 8)]
    out = identity.measure_run(make_run(tmp_path, tracks, rows))
    assert out["tracks"] == 2 and out["frames"] == 10
    assert out["near_copy_95"] == pytest.approx(2 / 12) and out["near_copy_90"] == pytest.approx(4 / 12)
    assert out["median_length"] == 6.0 and out["short_share"] == 1.0
    assert out["masks_per_frame"] == pytest.approx(1.2) and out["masks_per_frame_max"] == 2
    assert out["refind"] == 1.0 and out["refind_50"] == 1.0 and out["refind_arrived"] == "1 / 2"


def test_part_of_accuracy_on_dicts():
    gt_parent = {1: None, 2: 1, 3: 1, 4: None, 5: 4, 6: 2}
    gt_level = {1: "object", 2: "part", 3: "part", 4: "object", 5: "part", 6: "part"}   # 6: part of a part
    best = {1: 10, 2: 11, 3: 12, 4: 13, 5: None, 6: 11}
    pred_parent = {10: None, 11: 10, 12: 11, 13: None}
    acc = im.part_of_accuracy(gt_parent, gt_level, best, pred_parent)
    assert acc == {"right": 1, "lenient": 2, "total": 3, "share": pytest.approx(1 / 3),
                   "lenient_share": pytest.approx(2 / 3)}
    assert im.ancestors({1: 2, 2: 1}, 1) == [2]                 # a cycle stops


def test_part_of_accuracy_against_ground_truth(tmp_path):
    """Through the shared scorer: best tracks by STIoU, parents from tracks.json."""
    obj_a, part_a1, part_a2 = box(0, 20, 0, 20), box(0, 8, 0, 20), box(12, 20, 0, 20)
    obj_b, part_b = box(22, 30, 0, 30), box(22, 30, 0, 10)
    gt = [dict(entry(1, [obj_a] * 4), level="object"), dict(entry(2, [part_a1] * 4, 1), level="part"),
          dict(entry(3, [part_a2] * 4, 1), level="part"), dict(entry(4, [obj_b] * 4), level="object"),
          dict(entry(5, [part_b] * 4, 4), level="part")]
    pred = [entry(10, [obj_a] * 4), entry(11, [part_a1] * 4, 10),   # right
            entry(12, [part_a2] * 4, 11),                         # under a sibling that is under 10: lenient
            entry(13, [obj_b] * 4), entry(14, [part_b] * 4, None)]   # no parent: wrong
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(pred))
    out = identity.score_against(tmp_path / "gt.json", tmp_path / "pred.json", pred)
    assert out["part_of_counts"] == "1 / 2 / 3"
    assert out["part_of"] == pytest.approx(1 / 3) and out["part_of_lenient"] == pytest.approx(2 / 3)
    assert out["mSTIoU_all"] == pytest.approx(1.0) and out["frag_all"] == 1.0 and out["idsw_all"] == 0


def test_parse_setting():
    assert identity.parse_setting("max_masks=432") == ("max_masks", 432)
    assert identity.parse_setting("merge_copies=true") == ("merge_copies", True)
    assert identity.parse_setting("backend=classic") == ("backend", "classic")
    with pytest.raises(SystemExit, match="write KEY=VALUE"):
        identity.parse_setting("max_masks")
