"""Synthetic videos with object and part ground truth, and an in-memory `FrameSource`.

Why: the scorer needs ground truth that real clips do not have, and tests need videos that are
small, deterministic and exercise the hard cases one at a time (moving camera, occlusion,
objects entering and leaving, thin parts). Surfaces are textured and shaded and every frame gets
sensor noise and a slight blur, so a method that only works on flat colours fails here too.

    scene = make_scene("occlusion", seed=0)
    json.dump(scene.to_ytvis(), open("gt.json", "w"))
    source = ArraySource(scene.frames)
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..masks import encode, rle_to_json

SCENES = ("pan", "occlusion", "enter_exit", "thin_parts")


class ArraySource:
    """A `FrameSource` over a T x H x W x 3 uint8 array already in memory (tests, benchmarks)."""

    def __init__(self, frames: np.ndarray, fps: float = 25.0, path: str = "<array>") -> None:
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"ArraySource wants T x H x W x 3 uint8, got {frames.shape} {frames.dtype}")
        self.frames, self.fps, self.path = frames, float(fps), path

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    @property
    def input_size(self) -> tuple[int, int]:
        return self.size

    def frame(self, index: int) -> np.ndarray:
        if not 0 <= index < len(self):
            raise IndexError(f"frame {index} out of range 0..{len(self) - 1}")
        return self.frames[index]

    def fingerprint(self) -> str:
        h = hashlib.sha256(str(self.frames.shape).encode())
        for i in np.linspace(0, len(self) - 1, min(len(self), 8)).astype(int):
            h.update(self.frames[i].tobytes())
        return h.hexdigest()[:16]

    def close(self) -> None:
        pass


@dataclass
class Track:
    """One ground-truth track: a boolean mask per frame, None where it is not visible."""

    track_id: int
    level: str                      # "object" | "part"
    parent: int | None
    masks: list = field(default_factory=list)


@dataclass
class Scene:
    name: str
    frames: np.ndarray              # T x H x W x 3 uint8 RGB
    tracks: list[Track]

    def to_ytvis(self) -> list[dict]:
        """Ground truth in the YouTube-VIS result format `eval/score.py` reads (RLE counts as str)."""
        out = []
        for tr in self.tracks:
            segs, areas = [], []
            for m in tr.masks:
                if m is None or not m.any():
                    segs.append(None)
                    areas.append(None)
                else:
                    segs.append(rle_to_json(encode(m)[0]))
                    areas.append(int(m.sum()))
            out.append({"video_id": 1, "track_id": tr.track_id, "category_id": 1, "level": tr.level,
                        "parent": tr.parent, "segmentations": segs, "areas": areas})
        return out


# textures ------------------------------------------------------------------------------------
def value_noise(rng: np.random.Generator, h: int, w: int, cell: float, octaves: int = 3) -> np.ndarray:
    """Smooth multi-octave noise in [-1, 1]: cheap stand-in for natural texture."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for _ in range(octaves):
        gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
        grid = rng.random((gh, gw), dtype=np.float32) * 2 - 1
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp, cell = amp * 0.5, max(cell / 2.5, 1.5)
    return np.clip(out / total, -1, 1)


def textured(rng: np.random.Generator, h: int, w: int, rgb: tuple[int, int, int], amp: float = 22,
             cell: float = 10, shade: float = 0.25) -> np.ndarray:
    """A colour with texture (noise per channel, mostly in luminance) and a linear light gradient."""
    lum = value_noise(rng, h, w, cell)
    col = np.stack([value_noise(rng, h, w, cell * 2, 2) for _ in range(3)], -1)
    img = np.asarray(rgb, np.float32)[None, None] + amp * (lum[..., None] + 0.35 * col)
    ang = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    g = (np.cos(ang) * (xx / max(w, 1) - 0.5) + np.sin(ang) * (yy / max(h, 1) - 0.5))
    return img * (1 + shade * g)[..., None]


def background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Large soft colour patches (like ground, walls, foliage) with fine texture on top."""
    low = np.stack([value_noise(rng, h, w, 90, 2) for _ in range(3)], -1)
    base = 120 + 45 * low
    return base + 14 * value_noise(rng, h, w, 4, 3)[..., None]


# sprites: an object is a local RGB image, a silhouette and named part masks ----------------
@dataclass
class Sprite:
    image: np.ndarray               # h x w x 3 float32
    mask: np.ndarray                # h x w bool silhouette (parts included)
    parts: list[np.ndarray]         # h x w bool each, inside mask
    path: Callable[[int], tuple[float, float]]   # t -> world (x, y) of the top-left corner
    z: int = 0


def _draw(h: int, w: int, fn: Callable[[np.ndarray], None]) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    fn(m)
    return m.astype(bool)


def _paint(img: np.ndarray, region: np.ndarray, tex: np.ndarray) -> None:
    img[region] = tex[region]


def car(rng: np.random.Generator, w: int = 110, h: int = 64) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Body with a window and two wheels: three parts inside one silhouette."""
    r = h // 5
    body = _draw(h, w, lambda m: (cv2.rectangle(m, (0, h // 3), (w - 1, h - r - 1), 1, -1),
                                   cv2.rectangle(m, (w // 5, 0), (w * 3 // 4, h // 3), 1, -1)))
    window = _draw(h, w, lambda m: cv2.rectangle(m, (w // 5 + 6, 5), (w * 3 // 4 - 6, h // 3 - 1), 1, -1))
    wheels = [_draw(h, w, lambda m, c=c: cv2.circle(m, (c, h - r - 1), r, 1, -1)) for c in (w // 5, w * 4 // 5)]
    img = textured(rng, h, w, tuple(rng.integers(60, 220, 3)))
    _paint(img, window, textured(rng, h, w, (170, 210, 235), amp=10, cell=20))
    for wh in wheels:
        _paint(img, wh, textured(rng, h, w, (35, 35, 40), amp=12, cell=4))
    return img, body | window | wheels[0] | wheels[1], [window, wheels[0], wheels[1]]


def box(rng: np.random.Generator, w: int = 90, h: int = 80) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """A crate with a round logo."""
    body = np.ones((h, w), bool)
    logo = _draw(h, w, lambda m: cv2.ellipse(m, (w // 2, h // 2), (w // 4, h // 5), 0, 0, 360, 1, -1))
    img = textured(rng, h, w, tuple(rng.integers(60, 220, 3)), cell=6)
    _paint(img, logo, textured(rng, h, w, (230, 200, 40) if rng.random() < 0.5 else (200, 40, 60), amp=12))
    return img, body, [logo]


def ball(rng: np.random.Generator, d: int = 70) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """A disc with a stripe across it."""
    disc = _draw(d, d, lambda m: cv2.circle(m, (d // 2, d // 2), d // 2 - 1, 1, -1))
    stripe = disc & _draw(d, d, lambda m: cv2.rectangle(m, (0, d // 2 - d // 8), (d - 1, d // 2 + d // 8), 1, -1))
    img = textured(rng, d, d, tuple(rng.integers(60, 220, 3)), shade=0.5)
    _paint(img, stripe, textured(rng, d, d, (245, 245, 240), amp=8))
    return img, disc, [stripe]


def mug(rng: np.random.Generator, w: int = 80, h: int = 80) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """A mug: body, a thin handle (3 px) and a logo; handle and logo are parts."""
    bw = w * 5 // 8
    body = _draw(h, w, lambda m: cv2.rectangle(m, (0, 0), (bw, h - 1), 1, -1))
    handle = _draw(h, w, lambda m: cv2.ellipse(m, (bw, h // 2), (w - bw - 3, h // 4), 0, -90, 90, 1, 3)) & ~body
    logo = _draw(h, w, lambda m: cv2.rectangle(m, (bw // 4, h // 3), (bw * 3 // 4, h * 2 // 3), 1, -1))
    img = textured(rng, h, w, tuple(rng.integers(60, 220, 3)), cell=8)
    _paint(img, handle, textured(rng, h, w, (30, 30, 150), amp=10))
    _paint(img, logo, textured(rng, h, w, (240, 240, 235), amp=10, cell=5))
    return img, body | handle, [handle, logo]


def lamp(rng: np.random.Generator, w: int = 60, h: int = 120) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """A shade on a thin pole (4 px) with a foot; pole and foot (one colour) are a part."""
    shade = _draw(h, w, lambda m: cv2.fillPoly(m, [np.array([[10, 0], [w - 10, 0], [w - 1, 40], [0, 40]])], 1))
    pole = _draw(h, w, lambda m: cv2.rectangle(m, (w // 2 - 2, 41), (w // 2 + 1, h - 12), 1, -1))
    base = _draw(h, w, lambda m: cv2.rectangle(m, (w // 4, h - 12), (w * 3 // 4, h - 1), 1, -1))
    img = textured(rng, h, w, (230, 170, 60), amp=15)
    _paint(img, pole | base, textured(rng, h, w, (40, 40, 45), amp=8))
    return img, shade | pole | base, [pole | base]


# scenes ---------------------------------------------------------------------------------------
def _linear(x0: float, y0: float, vx: float, vy: float) -> Callable[[int], tuple[float, float]]:
    return lambda t: (x0 + vx * t, y0 + vy * t)


def _layout(name: str, rng: np.random.Generator, H: int, W: int, T: int):
    """-> (sprites, camera path t -> (x, y) offset). Sizes scale with the frame height."""
    s = H / 240
    def sz(v: float) -> int:
        return max(8, int(round(v * s)))
    def v(x: float) -> float:
        return x * s * 40 / T

    if name == "pan":
        cam = _linear(0, 0, v(3.0), v(0.6))
        sprites = [Sprite(*car(rng, sz(110), sz(64)), path=_linear(W * .12, H * .55, 0, 0)),
                   Sprite(*box(rng, sz(90), sz(80)), path=_linear(W * .5, H * .15, 0, 0)),
                   Sprite(*ball(rng, sz(70)), path=_linear(W * .85, H * .5, v(-0.5), 0), z=1)]
    elif name == "occlusion":
        cam = _linear(0, 0, v(0.5), 0)
        sprites = [Sprite(*box(rng, sz(110), sz(130)), path=_linear(W * .42, H * .2, 0, 0), z=2),
                   Sprite(*car(rng, sz(110), sz(64)), path=_linear(W * .02, H * .45, v(6.0), 0), z=1),
                   Sprite(*ball(rng, sz(60)), path=_linear(W * .78, H * .08, v(-3.5), v(0.4)), z=0)]
    elif name == "enter_exit":
        cam = _linear(0, 0, 0, 0)
        sprites = [Sprite(*car(rng, sz(110), sz(64)), path=_linear(-sz(120), H * .55, v(8.0), 0)),
                   Sprite(*box(rng, sz(80), sz(70)), path=_linear(W * .62, H * .1, v(6.0), 0)),
                   Sprite(*ball(rng, sz(60)), path=_linear(W * .3, -sz(70) - v(3.0) * T * .3, 0, v(3.0)))]
    elif name == "thin_parts":
        cam = _linear(0, 0, v(-1.5), v(0.8))
        sprites = [Sprite(*mug(rng, sz(80), sz(80)), path=_linear(W * .15, H * .35, v(1.5), 0)),
                   Sprite(*lamp(rng, sz(60), sz(120)), path=_linear(W * .55, H * .2, 0, 0)),
                   Sprite(*mug(rng, sz(64), sz(64)), path=_linear(W * .75, H * .6, v(-1.0), v(-0.5)))]
    else:
        raise ValueError(f"unknown scene {name!r}; choose one of {', '.join(SCENES)}")
    return sprites, cam


def make_scene(name: str, size: tuple[int, int] = (240, 426), num_frames: int = 40, seed: int = 0) -> Scene:
    """Render scene `name` with GT tracks: each sprite is an object track, each of its parts a part track.

    GT masks are the visible pixels (occlusion by sprites in front and the frame border applied).
    Deterministic for a given (name, size, num_frames, seed).
    """
    H, W = size
    T = num_frames
    rng = np.random.default_rng([seed, SCENES.index(name) if name in SCENES else 99])
    sprites, cam = _layout(name, rng, H, W, T)
    margin = int(np.ceil(max(abs(cam(T)[0]), abs(cam(T)[1])))) + 4
    bh, bw = H + 2 * margin, W + 2 * margin
    bg = background(rng, bh, bw)
    order = sorted(range(len(sprites)), key=lambda i: sprites[i].z)   # back to front
    tracks: list[Track] = []
    ids: list[tuple[int, list[int]]] = []
    for sp in sprites:
        oid = len(tracks) + 1
        tracks.append(Track(oid, "object", None))
        pids = []
        for _ in sp.parts:
            pids.append(len(tracks) + 1)
            tracks.append(Track(len(tracks) + 1, "part", oid))
        ids.append((oid, pids))
    frames = np.zeros((T, H, W, 3), np.uint8)
    for t in range(T):
        cx, cy = cam(t)
        ox, oy = int(round(cx)) + margin, int(round(cy)) + margin
        img = bg[oy:oy + H, ox:ox + W].copy()
        owner = np.full((H, W), -1, np.int32)
        part_maps = [[np.zeros((H, W), bool) for _ in sp.parts] for sp in sprites]
        for i in order:
            sp = sprites[i]
            x, y = sp.path(t)
            x, y = int(round(x - cx)), int(round(y - cy))
            h, w = sp.mask.shape
            y0, y1, x0, x1 = max(y, 0), min(y + h, H), max(x, 0), min(x + w, W)
            if y0 >= y1 or x0 >= x1:
                continue
            sl = (slice(y0 - y, y1 - y), slice(x0 - x, x1 - x))
            m = sp.mask[sl]
            img[y0:y1, x0:x1][m] = sp.image[sl][m]
            owner[y0:y1, x0:x1][m] = i
            for p, pm in enumerate(sp.parts):
                part_maps[i][p][y0:y1, x0:x1] = pm[sl]
        img = cv2.GaussianBlur(img, (0, 0), 0.7)
        img += np.random.default_rng([seed, t, 7]).normal(0, 2.5, img.shape).astype(np.float32)
        frames[t] = np.clip(img, 0, 255).astype(np.uint8)
        for i, (oid, pids) in enumerate(ids):
            vis = owner == i
            tracks[oid - 1].masks.append(vis if vis.any() else None)
            for p, pid in enumerate(pids):
                pm = part_maps[i][p] & vis
                tracks[pid - 1].masks.append(pm if pm.any() else None)
    return Scene(name, frames, tracks)


def write_frames(scene: Scene, directory: str | Path) -> list[Path]:
    """Frames as 00000.png, 00001.png, ... (lossless, so tests on a folder are exact)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for t, f in enumerate(scene.frames):
        p = d / f"{t:05d}.png"
        cv2.imwrite(str(p), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        paths.append(p)
    return paths


def write_video(scene: Scene, path: str | Path, fps: int = 25) -> Path:
    """H.264 at near-lossless quality (crf 4, yuv444p) so decoding gives frames within a few levels."""
    import av

    path = Path(path)
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.height, st.width = scene.frames.shape[1:3]
        st.pix_fmt = "yuv444p"
        st.options = {"crf": "4", "preset": "fast"}
        for f in scene.frames:
            for pkt in st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path
