"""Exports in the standard tools' flows (issue 14): the YouTube-VIS API with video ids, COCO with the
frames it names, filters, label layers packed to the overlap lower bound, track scores that rank."""
import json

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

import everymask
from everymask.cli import main
from everymask.config import RunConfig, RuntimeOptions
from everymask.engine.track_score import TrackEvidence, score, track_evidence
from everymask.errors import EverymaskError
from everymask.export import export
from everymask.export.filters import ExportFilter
from everymask.export.png_layers import overlap_graph, pack_layers
from everymask.masks import rle_to_json
from everymask.testing.replay import ReplayBackend
from everymask.testing.ytvis_eval import YTVISGroundTruth, evaluate, ground_truth

from export_scene import SIZE, T, make_run, truth
from replay_scenes import BlankSource, box

INPUT = (2 * SIZE[0], 2 * SIZE[1])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    r = make_run(tmp_path_factory.mktemp("tools"), frames_size=INPUT)
    yield r
    r.close()


def gt_entries() -> list[dict]:
    """The scene's ground truth at the input size, as YouTube-VIS annotations of video 1."""
    return [{"video_id": 1, "track_id": tid, "category_id": 1,
             "segmentations": [rle_to_json(frames[t]) if t in frames else None for t in range(T)]}
            for tid, frames in truth(INPUT, 2).items()]


def test_ytvis_api_flow_with_video_ids(run, tmp_path):
    # the run wrote tracks.json with video id 1 (the default) and the videos entry beside it
    header = json.loads((run.dir / "ytvis_videos.json").read_text())
    assert header["videos"] == [{"id": 1, "file_names": [f"{t:05d}.jpg" for t in range(T)], "width": INPUT[1],
                                 "height": INPUT[0], "length": T}]
    results = json.loads((run.dir / "tracks.json").read_text())
    assert {r["video_id"] for r in results} == {1}
    gt = ground_truth(gt_entries(), header["videos"])
    res = gt.load_res(results)
    assert [r["id"] for r in res] == [1, 2, 3, 4, 5] and res[0]["areas"][0] == 4 * 30 * 34
    # the replay backend reproduces the ground truth: the best-scored track finds one of 5 objects,
    # ten find all (every threshold up to 0.95)
    assert evaluate(gt, res) == {"AR@1": pytest.approx(0.2), "AR@10": pytest.approx(1.0),
                                 "AR@100": pytest.approx(1.0)}
    # video id 0 (the old default) does not load against a ground truth that numbers videos from 1
    export(run, "ytvis", tmp_path / "zero.json", video_id=0)
    with pytest.raises(AssertionError, match="Results do not correspond to current coco set"):
        gt.load_res(json.loads((tmp_path / "zero.json").read_text()))
    assert json.loads((tmp_path / "ytvis_videos.json").read_text())["videos"][0]["id"] == 0
    # --video-id on export
    assert main(["export", str(run.dir), "--format", "ytvis", "-o", str(tmp_path / "seven.json"),
                 "--video-id", "7"]) == 0
    assert {r["video_id"] for r in json.loads((tmp_path / "seven.json").read_text())} == {7}
    assert main(["export", str(run.dir), "--format", "ytvis", "--video-id", "-1"]) == 2


def test_evaluate_recall_counts_only_the_best_scored():
    """Two ground-truth tracks, a perfect result for each and a wrong one scored highest."""
    a, b, c = (box((8, 8), 0, 0, 4, 4), box((8, 8), 4, 4, 4, 4), box((8, 8), 0, 4, 4, 4))
    gt = ground_truth([{"video_id": 1, "segmentations": [rle_to_json(a)]},
                       {"video_id": 1, "segmentations": [rle_to_json(b)]}], [{"id": 1, "length": 1}])
    res = gt.load_res([{"video_id": 1, "score": s, "segmentations": [rle_to_json(m)]}
                       for s, m in ((0.9, c), (0.5, a), (0.4, b))])
    assert evaluate(gt, res, (1, 2, 3)) == {"AR@1": 0.0, "AR@2": 0.5, "AR@3": 1.0}
    with pytest.raises(AssertionError, match="Results do not correspond"):
        YTVISGroundTruth({"videos": [{"id": 2, "length": 1}]}).load_res(res)


def test_video_id_does_not_change_resume_identity(tmp_path):
    assert "video_id" not in RunConfig.identity_keys() and not hasattr(RunConfig(), "video_id")
    assert RuntimeOptions().video_id == 1
    from export_scene import CONFIG
    from everymask.video import open_source
    make_run(tmp_path).close()
    source = open_source(tmp_path / "clip", max_side=max(SIZE))
    again = everymask.segment_video(source, tmp_path / "run", CONFIG, options=RuntimeOptions(progress=False, video_id=9),
                                    backend=ReplayBackend(truth(), SIZE).backend())
    again.close()  # the same run, resumed with nothing to do: only the exports name video 9
    assert {e["video_id"] for e in json.loads((tmp_path / "run" / "tracks.json").read_text())} == {9}
    assert json.loads((tmp_path / "run" / "ytvis_videos.json").read_text())["videos"][0]["id"] == 9
    with everymask.open_run(tmp_path / "run") as r:
        export(r, "coco")
    assert (tmp_path / "run" / "frames").is_dir()
    everymask.segment_video(source, tmp_path / "run", CONFIG, options=RuntimeOptions(progress=False), fresh=True,
                            backend=ReplayBackend(truth(), SIZE).backend()).close()
    source.close()  # --fresh clears the frames and coco.json the coco export wrote
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "everymask.sqlite", "summary.json", "tracks.json", "ytvis_videos.json"]


def test_coco_flow_with_the_frames_it_names(run, tmp_path):
    path = export(run, "coco", tmp_path / "c" / "coco.json", video_id=3)
    coco = COCO(str(path))
    frames = tmp_path / "c" / "frames"
    assert sorted(p.name for p in frames.iterdir()) == sorted(img["file_name"] for img in coco.imgs.values())
    assert len(coco.imgs) == T
    for img in coco.imgs.values():
        pixels = cv2.imread(str(frames / img["file_name"]))
        assert pixels.shape == (img["height"], img["width"], 3) == (*INPUT, 3)
        # the file holds the frame its index names (JPEG at quality 95: a few grey levels off)
        source = cv2.imread(f"{run.source}/{img['frame_index']:05d}.png")
        assert np.abs(pixels.astype(int) - source).mean() < 3
        assert img["video_id"] == 3
    video = coco.dataset["videos"][0]
    assert (video["id"], video["length"], video["file_names"][0]) == (3, T, "00000.jpg")
    ann = coco.anns[1]
    assert ann["attributes"] == {"track_id": ann["track_id"], "keyframe": True, "occluded": False}
    # --no-frames and --frames
    assert main(["export", str(run.dir), "--format", "coco", "-o", str(tmp_path / "d" / "coco.json"),
                 "--no-frames"]) == 0
    assert not (tmp_path / "d" / "frames").exists()
    assert main(["export", str(run.dir), "--format", "coco", "-o", str(tmp_path / "e.json"),
                 "--frames", str(tmp_path / "imgs")]) == 0
    assert len(list((tmp_path / "imgs").glob("*.jpg"))) == T


def test_filters(run, tmp_path):
    # top-k keeps each frame's k best-scored masks (ties: the smaller id)
    kept = everymask.export.apply_filter(run, ExportFilter(top_k=2))
    for t in range(T):
        ids = kept.frame_masks(t).ids.tolist()
        scores = {tr.track_id: tr.score for tr in run.tracks()}
        present = sorted(run.frame_masks(t).ids.tolist(), key=lambda i: (-scores[i], i))
        assert ids == sorted(present[:2])
    wholes = everymask.export.apply_filter(run, ExportFilter(wholes_only=True))
    assert [t.track_id for t in wholes.tracks()] == [1, 4, 5]
    long = everymask.export.apply_filter(run, ExportFilter(min_length=0.9))
    assert [(t.track_id, t.parent) for t in long.tracks()] == [(1, None), (2, 1), (3, 2)]
    assert main(["export", str(run.dir), "--format", "ytvis", "-o", str(tmp_path / "w.json"), "--wholes-only",
                 "--min-length", "0.5"]) == 0
    assert [r["track_id"] for r in json.loads((tmp_path / "w.json").read_text())] == [1, 4, 5]
    with pytest.raises(EverymaskError, match=r"^--min-length 2.0 is invalid: must be a fraction"):
        ExportFilter(min_length=2.0)
    assert main(["export", str(run.dir), "--format", "ytvis", "--top-k", "-3"]) == 2


def test_png_export_reports_layers_against_the_lower_bound(run, tmp_path, capsys):
    assert main(["export", str(run.dir), "--format", "png", "-o", str(tmp_path / "png")]) == 0
    assert "3 layers for 5 tracks; lower bound 3 (the most masks on one pixel)" in capsys.readouterr().out


def test_pack_layers_nested_chain_and_crossing():
    # 1 > 2 > 3 nested, 4 crosses 1 only, 5 touches nothing: 3 masks on one pixel at most -> 3 layers
    overlaps = {1: {2, 3, 4}, 2: {1, 3}, 3: {1, 2}, 4: {1}, 5: set()}
    layers = pack_layers([1, 2, 3, 4, 5], overlaps, {1: 0, 2: 1, 3: 2, 4: 0, 5: 0})
    assert layers == [[1, 5], [2, 4], [3]]


@pytest.mark.parametrize("seed", range(3))
def test_png_layers_never_put_overlapping_masks_together(tmp_path, seed):
    rng = np.random.default_rng(seed)
    size, frames = (40, 60), 11
    tracks = {}
    for tid in range(12):
        y, x, h, w = rng.integers(0, 30), rng.integers(0, 50), rng.integers(4, 16), rng.integers(4, 16)
        first = int(rng.integers(0, 6))
        tracks[tid] = {t: box(size, y, x + t, h, w) for t in range(first, frames)}
    backend = ReplayBackend(tracks, size)
    config = RunConfig(backend="replay", step=5, min_area=0.0, vanish_area=0.0, copy_iou=0.99)
    run = everymask.segment_video(BlankSource(frames, size), tmp_path / "r", config,
                                  options=RuntimeOptions(progress=False), backend=backend.backend())
    path = export(run, "png")
    doc = json.loads((path / "layers.json").read_text())
    graph = overlap_graph(run)
    for lay in doc["layers"]:
        members = set(lay["labels"].values())
        assert not any(graph[t] & members for t in members)
    assert doc["lower_bound"] <= doc["num_layers"] <= doc["lower_bound"] + 1
    run.close()


def test_score_formula():
    assert score(TrackEvidence(length=1.0, refound=1.0, agreement=1.0, quality=1.0)) == pytest.approx(1.0)
    assert score(TrackEvidence(length=0.25, refound=1.0, agreement=0.0, quality=1.0)) == pytest.approx(0.5)
    assert score(TrackEvidence(length=1.0, refound=0.5, agreement=None, quality=0.0)) == pytest.approx(0.3)


def test_real_objects_rank_above_fragments(tmp_path):
    """Two objects found on every key frame; a fragment found once for 3 frames; an object on every
    frame that the generator found on one key frame only (its track is carried, never re-found)."""
    size, frames = (40, 60), 30   # key frames 0 5 10 15 20 25 29
    scene = {1: {t: box(size, 2, 2 + t // 3, 10, 12) for t in range(frames)},
             2: {t: box(size, 25, 30, 12, 20) for t in range(frames)},
             3: {t: box(size, 2, 40, 6, 6) for t in range(9, 12)},
             4: {t: box(size, 20, 2, 8, 10) for t in range(frames)}}
    missed = {(4, k) for k in (0, 5, 10, 20, 25, 29)}
    backend = ReplayBackend(scene, size, missed=missed)
    config = RunConfig(backend="replay", step=5, min_area=0.0, vanish_area=0.0)
    run = everymask.segment_video(BlankSource(frames, size), tmp_path / "r", config,
                                  options=RuntimeOptions(progress=False), backend=backend.backend())
    ev = track_evidence(run.store, run.num_frames, run.size, 5)
    assert sorted((t.first, t.num_frames) for t in run.tracks()) == [(0, 30), (0, 30), (0, 30), (9, 3)]
    fragment = next(t for t in run.tracks() if t.first == 9)
    assert ev[fragment.track_id] == TrackEvidence(length=0.1, refound=1.0, agreement=0.0, quality=1.0)
    ranked = sorted(run.tracks(), key=lambda t: -t.score)
    real = {t.track_id for t in ranked[:2]}
    assert all(ev[t].refound == 1.0 and ev[t].agreement == 1.0 for t in real)
    carried = [t for t in ranked if t.track_id not in real and t.track_id != fragment.track_id][0]
    assert ev[carried.track_id].refound == pytest.approx(1 / 7) and ev[carried.track_id].agreement == 0.0
    assert [t.score for t in ranked] == pytest.approx([1.0, 1.0, 0.4 + 0.6 / 7, np.sqrt(0.1)], abs=1e-5)
    run.close()
