"""Every export decodes back to the store's masks exactly (overlay: frame count, rate and colours).

The run's input is twice the processing size, so every export also goes through the rescale to
the input resolution; the expected masks are the store's masks rescaled the way tracks.json is.
"""
import json
import logging
import re

import av
import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from everymask.cli import main
from everymask.export import export
from everymask.export.render import track_colour
from everymask.export.ytvis import rescale_rle
from everymask.masks import decode_one

from export_scene import SIZE, T, make_run

INPUT = (2 * SIZE[0], 2 * SIZE[1])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    r = make_run(tmp_path_factory.mktemp("exports"), frames_size=INPUT)
    assert r.size == SIZE and r.input_size == INPUT
    yield r
    r.close()


def expected(run, t):
    """{track id: H x W bool at the input size} for frame t, from the store."""
    masks = run.frame_masks(t)
    return {tid: decode_one(rescale_rle(rle, INPUT)) for tid, rle in zip(masks.ids.tolist(), masks.rles)}


def test_hierarchy_of_the_scene(run):
    assert {t.track_id: t.parent for t in run.tracks()} == {1: None, 2: 1, 3: 2, 4: None, 5: None}
    assert run.summary()["hierarchy_depths"] == {"0": 3, "1": 1, "2": 1}


def test_coco_round_trip(run):
    path = export(run, "coco")
    coco = COCO(str(path))
    assert len(coco.imgs) == T and coco.imgs[1]["width"] == INPUT[1] and coco.imgs[1]["height"] == INPUT[0]
    parents = {t.track_id: t.parent for t in run.tracks()}
    n = 0
    for t in range(T):
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[t + 1]))
        want = expected(run, t)
        assert sorted(a["track_id"] for a in anns) == sorted(want)
        for a in anns:
            m = coco.annToMask(a).astype(bool)
            assert np.array_equal(m, want[a["track_id"]])
            assert a["parent"] == parents[a["track_id"]] and a["area"] == m.sum()
            ys, xs = np.nonzero(m)
            assert a["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
        n += len(anns)
    assert n == len(coco.anns) == sum(run.store.masks_per_frame().values())


def test_png_layers_round_trip(run):
    path = export(run, "png")
    doc = json.loads((path / "layers.json").read_text())
    # 1 > 2 > 3 are nested and 4 crosses 1 and 2: at most 3 masks on a pixel, so 3 layers; 5 touches
    # nothing and shares the first layer with 1, the part 3 shares one with 4 (they never overlap)
    assert (doc["num_layers"], doc["lower_bound"]) == (3, 3)
    assert [sorted(lay["labels"].values()) for lay in doc["layers"]] == [[1, 5], [2], [3, 4]]
    assert [lay["depths"] for lay in doc["layers"]] == [[0], [1], [0, 2]]
    for t in range(T):
        got: dict[int, np.ndarray] = {}
        for k, lay in enumerate(doc["layers"]):
            img = cv2.imread(str(path / f"layer_{k}" / f"{t:05d}.png"), cv2.IMREAD_UNCHANGED)
            assert img.dtype == np.uint16 and img.shape == INPUT
            for label, tid in lay["labels"].items():
                if (img == int(label)).any():
                    got[tid] = img == int(label)
        want = expected(run, t)
        assert sorted(got) == sorted(want)
        for tid in want:
            assert np.array_equal(got[tid], want[tid])


def test_masks_npz_round_trip_and_warning(run, caplog):
    with caplog.at_level(logging.WARNING, logger="everymask"):
        path = export(run, "masks-npz")
    assert re.search(r"\d+ masks as dense arrays are [\d.]+ [MG]B", caplog.text)
    parents = {t.track_id: -1 if t.parent is None else t.parent for t in run.tracks()}
    for t in range(T):
        with np.load(path / f"{t:05d}.npz") as z:  # allow_pickle stays False: plain arrays only
            assert z["masks"].dtype == bool and z["masks"].shape[1:] == INPUT
            want = expected(run, t)
            assert z["track_ids"].tolist() == sorted(want)
            for m, tid, parent, area in zip(z["masks"], z["track_ids"], z["parents"], z["areas"]):
                assert np.array_equal(m, want[tid]) and parent == parents[tid] and area == m.sum()


def read_video(path):
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(stream)]
        return frames, stream.average_rate, (stream.height, stream.width)


def test_overlay_has_every_frame_at_the_input_rate(run, tmp_path):
    frames, rate, size = read_video(export(run, "overlay"))
    assert len(frames) == T and rate == run.fps and size == INPUT
    # frame 8, in the middle of track 5 (a whole, not overlapped): tinted towards its colour
    src = cv2.cvtColor(cv2.imread(str(run.source) + "/00008.png"), cv2.COLOR_BGR2RGB).astype(float)
    y, x = slice(2 * 40, 2 * 42), slice(2 * 4, 2 * 6)
    tint = 0.55 * src[y, x] + 0.45 * np.array(track_colour(5))
    assert np.abs(frames[8][y, x].astype(float) - tint).mean() < 12
    with_ids, _, _ = read_video(export(run, "overlay", tmp_path / "ids.mp4", ids=True))
    assert len(with_ids) == T and np.abs(with_ids[8].astype(int) - frames[8]).max() > 100  # ids are drawn


def test_viewer_chunks_hold_the_store_masks(run, tmp_path):
    index = export(run, "viewer", tmp_path / "v", max_side=64, chunk_frames=5)
    assert cv2.imread(str(index.parent / "frames" / "00011.jpg")).shape[:2] == SIZE  # downscaled frames
    seen = 0
    for k in range(3):
        text = (index.parent / "data" / f"chunk_{k:05d}.js").read_text()
        assert text.startswith(f"everymask._chunk({k},") and text.endswith(");\n")
        for j, frame in enumerate(json.loads(text[len(f"everymask._chunk({k},"):-3])):
            t = 5 * k + j
            areas = [a for _, a, _ in frame]
            assert areas == sorted(areas)  # smallest first
            masks = run.frame_masks(t)  # the store's RLEs at the processing size, as they are
            store = {tid: rle for tid, rle in zip(masks.ids.tolist(), masks.rles)}
            assert sorted(store) == sorted(tid for tid, _, _ in frame)
            for tid, area, counts in frame:
                assert counts.encode() == store[tid]["counts"] and area == decode_one(store[tid]).sum()
                seen += 1
    assert seen == sum(run.store.masks_per_frame().values())
    meta = (index.parent / "data" / "meta.js").read_text()
    assert "<" not in meta and ">" not in meta


def test_cli_export_and_report(run, capsys):
    assert main(["export", str(run.dir), "--format", "coco", "-o", str(run.dir / "c.json")]) == 0
    assert (run.dir / "c.json").exists()
    assert main(["export", str(run.dir), "--format", "nope"]) == 2
    assert "choose one of" in capsys.readouterr().err
    assert main(["report", str(run.dir)]) == 0
    page = (run.dir / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 5
    report = json.loads((run.dir / "summary.json").read_text())["report"]
    assert report["masks_per_frame"] == [len(expected(run, t)) for t in range(T)]
    assert report["track_lengths"] == {"7": 1, "6": 1, "12": 3}
    assert len(report["coverage"]) == T and all(0 < c < 1 for c in report["coverage"])


def test_viewer_chunk_size_follows_the_data(run, tmp_path, monkeypatch):
    import everymask.export.viewer as viewer
    index = export(run, "viewer", tmp_path / "a")  # tiny masks: the most frames per chunk
    assert '"chunk_frames":64,"num_chunks":1' in (index.parent / "data" / "meta.js").read_text()
    monkeypatch.setattr(viewer, "CHUNK_BYTES", 100)  # ~30 bytes of RLE per mask, 3-5 masks per frame
    index = export(run, "viewer", tmp_path / "b")
    meta = (index.parent / "data" / "meta.js").read_text()
    assert '"chunk_frames":1,"num_chunks":12' in meta and (index.parent / "data" / "chunk_00011.js").exists()
