"""Hard synthetic videos with object and part ground truth: as messy as real footage.

Why: the classic scenes (`synthetic.py`) are easy (three objects, flat-ish parts of a far colour,
a fixed light, a clean frame), so tracking scores there do not predict real clips (issue 11).
These scenes are made by independent code (`hard_sprites.py`) and have 9-12 objects in clutter,
2-3 parts each (some barely different from their object), occlusion in depth order, rotation and
scale change, objects that enter late, leave early, leave the frame or hide behind another for
over two seconds and come back, a panning and zooming camera with shake, per-frame flicker,
motion blur, cast shadows, vignetting, sensor noise, lens softening and JPEG compression, on a
background with its own structures (panels, poles, pebbles) that the ground truth ignores.
The `sparse` preset keeps every degradation but has four objects (one passes behind another, one
enters late, one leaves the frame for over two seconds and returns) and no background stuff: the
kind of scene issue 11's unseen set describes, between `synthetic.py` and the cluttered presets.

    scene = make_hard_scene("mixed", seed=0)            # 96 frames, 240 x 426 (the sample's size)
    json.dump(scene.to_ytvis(), open("gt.json", "w"))
    source = ArraySource(scene.frames, path="hard:mixed")
    tiny = make_hard_scene("mixed", small=True)          # 32 frames, 96 x 160, for tests

Ground truth is the visible pixels: an object's mask omits what is in front of it and what is
outside the frame, a part's mask is inside its object's. Deterministic for (name, size, frames, seed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np
from scipy.interpolate import PchipInterpolator

from ..masks import RLE, decode_one, encode, rle_to_json
from .hard_sprites import SHAPES, Sprite, background, make_sprite
from .synthetic import ArraySource

# the camera: shot noise, read noise (in 8-bit levels^2), JPEG quality range, background defocus (px at 240p)
SHOT_NOISE, READ_NOISE, JPEG_QUALITY, BG_DEFOCUS = 0.08, 3.0, (50, 80), 1.0
PRESETS = ("clutter", "occlusion_return", "camera", "mixed", "sparse")
CLUTTERED = PRESETS[:4]             # the 9-14 object presets (RESULTS' "hard mean" before "sparse" existed)
SMALL = {"size": (96, 160), "num_frames": 32}
FPS = 25.0

__all__ = ["CLUTTERED", "PRESETS", "SMALL", "ArraySource", "GTTrack", "HardScene", "make_hard_scene"]


@dataclass
class GTTrack:
    """One ground-truth track: an RLE per frame, None where nothing of it is visible."""

    track_id: int
    level: str                      # "object" | "part"
    parent: int | None
    kind: str                       # the object's family, or the part's look (how it differs)
    rles: list = field(default_factory=list)

    def visible(self) -> list[int]:
        return [t for t, r in enumerate(self.rles) if r is not None]


@dataclass
class HardScene:
    name: str
    frames: np.ndarray              # T x H x W x 3 uint8 RGB
    tracks: list[GTTrack]
    fps: float = FPS

    def mask(self, track_id: int, t: int) -> np.ndarray:
        """Dense boolean mask of a track on frame t (all False where it is not visible)."""
        rle = self.tracks[track_id - 1].rles[t]
        return np.zeros(self.frames.shape[1:3], bool) if rle is None else decode_one(rle)

    def absences(self, min_frames: int) -> list[tuple[int, int, int]]:
        """Objects unseen for at least `min_frames` and seen again: (track_id, last seen, seen again)."""
        out = []
        for tr in self.tracks:
            vis = tr.visible()
            if tr.level == "object":
                out += [(tr.track_id, a, b) for a, b in zip(vis, vis[1:]) if b - a - 1 >= min_frames]
        return out

    def to_ytvis(self) -> list[dict]:
        """Ground truth in the YouTube-VIS list format `eval/score.py` reads (level, parent, RLE as str)."""
        return [{"video_id": 1, "track_id": tr.track_id, "category_id": 1, "level": tr.level, "parent": tr.parent,
                 "kind": tr.kind, "segmentations": [None if r is None else rle_to_json(r) for r in tr.rles],
                 "areas": [None if r is None else int(_area(r)) for r in tr.rles]} for tr in self.tracks]

    def source(self) -> ArraySource:
        return ArraySource(self.frames, fps=self.fps, path=f"hard:{self.name}")


def _area(rle: RLE) -> int:
    from pycocotools import mask as mask_utils
    return int(mask_utils.area(rle))


# camera and motion ---------------------------------------------------------------------------
@dataclass
class Camera:
    """Per frame: the world point at the frame centre, the zoom and a hand-held shake (px)."""

    centre: np.ndarray              # T x 2
    zoom: np.ndarray                # T
    shake: np.ndarray               # T x 2
    W: int
    H: int

    def at(self, t: float) -> tuple[np.ndarray, float]:
        """(offset, zoom) at a fractional frame time: screen = zoom * (world - centre) + W/2 + shake."""
        i = np.arange(len(self.zoom))
        c = np.array([np.interp(t, i, self.centre[:, 0]), np.interp(t, i, self.centre[:, 1])])
        s = np.array([np.interp(t, i, self.shake[:, 0]), np.interp(t, i, self.shake[:, 1])])
        z = float(np.interp(t, i, self.zoom))
        return np.array([self.W / 2, self.H / 2]) + s - z * c, z

    def to_world(self, t: int, sx: float, sy: float) -> np.ndarray:
        off, z = self.at(t)
        return (np.array([sx, sy]) - off) / z


def _camera(rng: np.random.Generator, T: int, H: int, W: int, pan: tuple[float, float], zoom: float,
            shake: float, out_and_back: bool = False) -> Camera:
    """A pan by `pan` (fractions of the frame) and a zoom by `zoom`, eased in and out (or there and
    back again), plus a smoothed random walk of `shake` px at 240p."""
    s = np.linspace(0, 1, T)
    ease = np.sin(np.pi * s) if out_and_back else 0.5 - 0.5 * np.cos(np.pi * s)
    centre = np.stack([W / 2 + pan[0] * W * ease, H / 2 + pan[1] * H * ease], 1)
    zoom_t = 1 + zoom * (np.sin(np.pi * s) if out_and_back else s)
    walk = np.cumsum(rng.normal(0, 1, (T + 8, 2)), 0)
    walk = cv2.GaussianBlur(walk.astype(np.float32), (1, 0), 2.0)[4:T + 4]
    walk -= walk.mean(0)
    walk *= shake * H / 240 / max(float(np.abs(walk).max()), 1e-6)
    return Camera(centre, zoom_t, walk.astype(np.float64), W, H)


@dataclass
class Actor:
    """An object in the world: a sprite, a depth and a pose per frame."""

    sprite: Sprite
    z: float
    xy: np.ndarray                  # T x 2 world position of the sprite's centre
    angle: np.ndarray               # T, radians
    scale: np.ndarray               # T

    def matrix(self, cam: Camera, t: float) -> np.ndarray:
        """2 x 3 affine: sprite pixel -> screen pixel at fractional time t."""
        i = np.arange(len(self.angle))
        x, y = np.interp(t, i, self.xy[:, 0]), np.interp(t, i, self.xy[:, 1])
        a, s = np.interp(t, i, self.angle), np.interp(t, i, self.scale)
        off, z = cam.at(t)
        h, w = self.sprite.labels.shape
        R = z * s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        centre = np.array([(w - 1) / 2, (h - 1) / 2])
        return np.hstack([R, (z * np.array([x, y]) + off - R @ centre)[:, None]])


def _route(cam: Camera, T: int, stops: list[tuple[float, float, float]],
           hold: Sequence[tuple[float, float]] = ()) -> np.ndarray:
    """World path through screen waypoints (time as a fraction of the clip, x and y as fractions of
    the frame); between the times of a `hold` pair it stays at the first one's screen place."""
    pts = []
    for f, sx, sy in stops:
        t = f * (T - 1)
        pts.append((t, *cam.to_world(int(round(t)), sx * cam.W, sy * cam.H)))
    for a, b in hold:                       # dense points: off-screen stays off-screen as the camera moves
        ref = min(stops, key=lambda s: abs(s[0] - a))
        for t in np.arange(a * (T - 1), b * (T - 1), 2.0):
            pts.append((t, *cam.to_world(int(round(t)), ref[1] * cam.W, ref[2] * cam.H)))
    return _world_route(T, pts)


def _world_route(T: int, pts: list[tuple[float, float, float]]) -> np.ndarray:
    """T x 2 positions through (frame time, world x, world y) points, smooth and without overshoot."""
    pts = sorted(pts)
    ts, keep = np.unique(np.array([p[0] for p in pts]), return_index=True)
    xy = np.array([pts[k][1:] for k in keep], np.float64)
    if len(ts) == 1:
        return np.repeat(xy, T, 0)
    t = np.clip(np.arange(T), ts[0], ts[-1])
    return np.stack([PchipInterpolator(ts, xy[:, d])(t) for d in range(2)], 1)


def _spin(rng: np.random.Generator, T: int, fast: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Angle (a turn of up to 1.6 rad over the clip, or a slow drift, with a wobble) and scale
    (breathing by 10-35 %, as a thing comes nearer and goes away) per frame."""
    t = np.arange(T) / max(T - 1, 1)
    turn = rng.uniform(0.4, 1.6) * rng.choice([-1, 1]) if fast else rng.uniform(-0.3, 0.3)
    angle = rng.uniform(-0.5, 0.5) + turn * t + 0.15 * np.sin(2 * np.pi * (t * rng.uniform(1, 3) + rng.random()))
    scale = rng.uniform(0.85, 1.0) * np.exp(rng.uniform(0.1, 0.3) * np.sin(2 * np.pi * (t * rng.uniform(0.5, 1.5)
                                                                                     + rng.random())))
    return angle, scale


# presets: where the objects are and how they move --------------------------------------------
def _actors(name: str, rng: np.random.Generator, T: int, H: int, W: int) -> tuple[Camera, list[Actor]]:
    u = H / 240
    fams = list(SHAPES)
    if name == "clutter":
        cam = _camera(rng, T, H, W, pan=(0.25, 0.05), zoom=0.08, shake=1.5)
    elif name == "occlusion_return":
        cam = _camera(rng, T, H, W, pan=(0.15, 0.0), zoom=0.05, shake=1.0)
    elif name == "camera":
        cam = _camera(rng, T, H, W, pan=(0.95, 0.12), zoom=0.25, shake=3.0, out_and_back=True)
    elif name == "mixed":
        cam = _camera(rng, T, H, W, pan=(0.35, 0.1), zoom=0.15, shake=2.5)
    elif name == "sparse":
        cam = _camera(rng, T, H, W, pan=(0.2, 0.05), zoom=0.1, shake=2.0)
    else:
        raise ValueError(f"unknown hard scene {name!r}; choose one of {', '.join(PRESETS)}")
    actors: list[Actor] = []

    def add(stops, size, z=None, hold=(), fast=True, family=None, still=False):
        """An actor of about `size` px at 240p through screen waypoints `stops` (see _route)."""
        sp = make_sprite(rng, family or str(rng.choice(fams)), size * u, u)
        angle, scale = _spin(rng, T, fast)
        if still:
            angle, scale = np.zeros(T), np.ones(T)
        actors.append(Actor(sp, float(rng.random()) if z is None else z, _route(cam, T, stops, hold), angle, scale))
        return actors[-1]

    grid = [((i % 4 + 0.5) / 4 + rng.uniform(-0.07, 0.07), (i // 4 + 0.5) / 3 + rng.uniform(-0.1, 0.1))
            for i in rng.permutation(12)]
    drift = lambda: rng.uniform(-0.18, 0.18, 2)                       # noqa: E731
    if name in ("clutter", "mixed"):
        n_still = 8 if name == "clutter" else 6
        for x, y in grid[:n_still]:
            d = drift()
            add([(0, x, y), (0.5, x + d[0] / 2 + rng.uniform(-.05, .05), y + d[1] / 2), (1, x + d[0], y + d[1])],
                rng.uniform(58, 92))
        add([(0.25, -0.25, grid[8][1]), (0.45, 0.2, grid[8][1]), (1, 0.45, grid[8][1] + 0.1)], 70)   # enters late
        add([(0, 0.6, grid[9][1]), (0.55, 0.75, grid[9][1]), (0.75, 1.3, grid[9][1])], 66)            # leaves early
    if name in ("occlusion_return", "mixed", "clutter"):
        # leaves the frame on the right, stays out for over half the clip, comes back the same way
        add([(0, 0.82, 0.3), (0.18, 1.35, 0.35), (0.78, 1.35, 0.35), (0.95, 0.78, 0.55), (1, 0.74, 0.58)], 62,
            hold=[(0.18, 0.78)])
    if name in ("occlusion_return", "mixed"):
        # a big front object that one small object hides behind for over half the clip
        occ = add([(0, 0.42, 0.62)], 124, z=2.0, family="house", still=True)          # still in the world
        h, w = occ.sprite.labels.shape
        body = occ.matrix(cam, 0) @ np.array([(w - 1) / 2, 0.68 * (h - 1), 1.0])      # centre of the house's box
        spot = cam.to_world(0, *body)                                                # (the house does not move)
        hid = add([(0, body[0] / W - 0.3, body[1] / H - 0.05)], 40, z=1.0,
                  family=str(rng.choice(["fruit", "fish", "mushroom", "vehicle"])))
        T1 = T - 1
        hid.xy = _world_route(T, [(0, *hid.xy[0]), (0.2 * T1, *spot), (0.5 * T1, *spot), (0.8 * T1, *spot),
                                  (T1, *cam.to_world(T1, body[0] + 0.3 * W, body[1] + 0.05 * H))])
        hid.scale = np.clip(hid.scale, 0.8, 1.05)
    if name == "occlusion_return":
        for i, (x, y) in enumerate(grid[:7]):                        # crossing paths in front and behind
            x2 = 1 - x + rng.uniform(-0.1, 0.1)
            add([(0, x, y), (1, x2, y + rng.uniform(-0.15, 0.15))], rng.uniform(55, 88))
        add([(0.3, 1.3, 0.2), (0.55, 0.7, 0.25), (1, 0.3, 0.2)], 66)                                  # enters late
        add([(0, 0.25, 0.82), (0.55, 0.15, 0.85), (0.7, -0.3, 0.85)], 64)                              # leaves early
    if name == "sparse":            # four things, no background stuff: every degradation, little clutter
        add([(0, 0.3, 0.45), (1, 0.4, 0.5)], 100, z=2.0)                                             # in front
        add([(0, 0.05, 0.4), (0.5, 0.3, 0.45), (1, 0.6, 0.4)], 60, z=1.0)                            # passes behind
        add([(0.3, 1.25, 0.3), (0.5, 0.8, 0.3), (1, 0.7, 0.25)], 66)                                 # enters late
        add([(0, 0.8, 0.75), (0.2, 1.3, 0.8), (0.7, 1.3, 0.8), (0.9, 0.8, 0.7), (1, 0.75, 0.7)], 62,
            hold=[(0.2, 0.7)])                                                                       # leaves, returns
    if name == "camera":                                             # the camera sweeps 2 frames wide and back
        for i in range(14):
            x = -0.05 + 2.0 * (i + rng.uniform(0.2, 0.8)) / 14
            y = rng.uniform(0.2, 0.8)
            add([(0, x, y), (1, x + rng.uniform(-0.08, 0.08), y + rng.uniform(-0.08, 0.08))], rng.uniform(58, 90),
                fast=bool(rng.random() < 0.5))
    return cam, actors


# rendering -----------------------------------------------------------------------------------
def _line_kernel(dx: float, dy: float) -> np.ndarray | None:
    """Motion blur along (dx, dy) px; None when the motion is under a pixel and a half."""
    n = float(np.hypot(dx, dy))
    if n < 1.5:
        return None
    k = int(np.ceil(n)) | 1
    ker = np.zeros((k, k), np.float32)
    c = k // 2
    a = (int(round(c - dx / 2)), int(round(c - dy / 2)))
    cv2.line(ker, a, (2 * c - a[0], 2 * c - a[1]), 1.0, 1)
    return ker / ker.sum()


def _roi(M: np.ndarray, hw: tuple[int, int], pad: int, H: int, W: int) -> tuple[int, int, int, int] | None:
    h, w = hw
    c = M @ np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64).T
    x0, y0 = np.floor(c.min(1)).astype(int) - pad
    x1, y1 = np.ceil(c.max(1)).astype(int) + pad
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    return None if x0 >= x1 or y0 >= y1 else (x0, y0, x1, y1)


def _degrade(rng: np.random.Generator, img: np.ndarray, vignette: np.ndarray, flicker: float, t: int) -> np.ndarray:
    """Camera and codec: flicker (gain, contrast, colour cast per frame), vignetting, lens softening,
    shot and read noise, and JPEG at a quality that changes per frame."""
    H = img.shape[0]
    gain = 1 + flicker * (rng.normal() + 0.7 * np.sin(t * 0.9))
    contrast = 1 + 0.6 * flicker * rng.normal()
    cast = 1 + 0.02 * rng.normal(size=3)
    img = ((img - 0.45) * contrast + 0.45) * gain * cast * vignette[..., None]
    img = cv2.GaussianBlur(img, (0, 0), 0.55 * max(H / 240, 0.5))
    img255 = np.clip(img, 0, 1) * 255
    noise = rng.standard_normal(img255.shape).astype(np.float32) * np.sqrt(READ_NOISE + SHOT_NOISE * img255)
    img8 = np.clip(img255 + noise, 0, 255).astype(np.uint8)
    q = int(rng.integers(*JPEG_QUALITY))
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def make_hard_scene(name: str = "mixed", seed: int = 0, size: tuple[int, int] = (240, 426),
                    num_frames: int = 96, small: bool = False) -> HardScene:
    """Render preset `name` (one of PRESETS) with object and part ground truth.

    `small=True` gives SMALL (32 frames of 96 x 160) whatever `size` and `num_frames` say.
    Object sizes and speeds scale with the frame; events (entering, leaving, hiding) happen at
    fixed fractions of the clip, so the long absences last over 50 frames only from 96 frames on.
    """
    if small:
        size, num_frames = SMALL["size"], SMALL["num_frames"]
    H, W = size
    T = int(num_frames)
    if T < 2 or H < 32 or W < 32:
        raise ValueError(f"a hard scene needs at least 2 frames of 32 x 32, got {T} of {H} x {W}")
    rng = np.random.default_rng([seed, PRESETS.index(name) if name in PRESETS else 99, 11])
    cam, actors = _actors(name, rng, T, H, W)
    corners = [(np.array(p) - off) / z for off, z in map(cam.at, range(T)) for p in ((0, 0), (W, H))]
    origin = np.floor(np.min(corners, 0)) - 24
    far = np.ceil(np.max(corners, 0)) + 24
    bg = background(rng, int(far[1] - origin[1]), int(far[0] - origin[0]), H, W, int(0.5 * H - origin[1]),
                    stuff=name != "sparse")
    if BG_DEFOCUS > 0:                                            # the lens is focused on the things
        bg = cv2.GaussianBlur(bg, (0, 0), BG_DEFOCUS * H / 240)
    light_world = np.array([-0.5, -0.6, 0.62])
    light_world /= np.linalg.norm(light_world)
    shadow_off = -light_world[:2] / light_world[2] * 4 * H / 240
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    vignette = 1 - 0.3 * (((xx - W / 2) / (W / 2)) ** 2 + ((yy - H / 2) / (H / 2)) ** 2) / 2
    flicker = 0.09 if name == "mixed" else 0.06
    order = sorted(range(len(actors)), key=lambda i: actors[i].z)
    tracks: list[GTTrack] = []
    ids = []
    for a in actors:
        oid = len(tracks) + 1
        tracks.append(GTTrack(oid, "object", None, a.sprite.family))
        ids.append((oid, [len(tracks) + 1 + p for p in range(a.sprite.num_parts)]))
        tracks += [GTTrack(len(tracks) + 1 + p, "part", oid, look) for p, look in enumerate(a.sprite.looks)]
    frames = np.zeros((T, H, W, 3), np.uint8)
    noise_rng = np.random.default_rng([seed, 23])
    for t in range(T):
        off, z = cam.at(t)
        A = np.array([[z, 0, off[0] + z * origin[0]], [0, z, off[1] + z * origin[1]]])
        img = cv2.warpAffine(bg, A, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        (o0, _), (o1, _) = cam.at(t - 0.3), cam.at(t + 0.3)          # camera motion blurs the background
        ker = _line_kernel(*(o1 - o0))
        if ker is not None:
            img = cv2.filter2D(img, -1, ker, borderType=cv2.BORDER_REFLECT)
        owner = np.full((H, W), -1, np.int32)
        part = np.zeros((H, W), np.uint8)
        for i in order:
            a = actors[i]
            sp = a.sprite
            M = a.matrix(cam, t)
            centre = np.array([(sp.labels.shape[1] - 1) / 2, (sp.labels.shape[0] - 1) / 2, 1.0])
            vel = (a.matrix(cam, t + 0.3) - a.matrix(cam, t - 0.3)) @ centre   # shutter open 60 % of a frame
            pad = int(np.ceil(np.abs(vel).max() + np.abs(shadow_off).max() + 8))
            roi = _roi(M, sp.labels.shape, pad, H, W)
            if roi is None:
                continue
            x0, y0, x1, y1 = roi
            Mr = M - np.array([[0, 0, x0], [0, 0, y0]])
            ang = float(np.interp(t, np.arange(T), a.angle))
            c, s = np.cos(-ang), np.sin(-ang)
            light = np.array([c * light_world[0] - s * light_world[1], s * light_world[0] + c * light_world[1],
                              light_world[2]], np.float32)
            inside = (sp.labels > 0).astype(np.float32)
            rgb = sp.shaded(light) * inside[..., None]
            dsize = (x1 - x0, y1 - y0)
            col = cv2.warpAffine(rgb.astype(np.float32), Mr, dsize, flags=cv2.INTER_LINEAR)
            alpha = cv2.warpAffine(inside, Mr, dsize, flags=cv2.INTER_LINEAR)
            lab = cv2.warpAffine(sp.labels, Mr, dsize, flags=cv2.INTER_NEAREST)
            shadow = cv2.warpAffine(alpha, np.float32([[1, 0, shadow_off[0]], [0, 1, shadow_off[1]]]), dsize)
            shadow = cv2.GaussianBlur(shadow, (0, 0), 3 * H / 240)
            ker = _line_kernel(*vel)
            if ker is not None:
                col, alpha = cv2.filter2D(col, -1, ker), cv2.filter2D(alpha, -1, ker)
            view = img[y0:y1, x0:x1]
            view *= (1 - 0.4 * shadow)[..., None]
            view[:] = view * (1 - alpha[..., None]) + col
            hit = lab > 0
            owner[y0:y1, x0:x1][hit] = i
            part[y0:y1, x0:x1][hit] = lab[hit]
        frames[t] = _degrade(noise_rng, img, vignette, flicker, t)
        for i, (oid, pids) in enumerate(ids):
            vis = owner == i
            tracks[oid - 1].rles.append(encode(vis)[0] if vis.any() else None)
            for p, pid in enumerate(pids):
                pm = vis & (part == p + 2)
                tracks[pid - 1].rles.append(encode(pm)[0] if pm.any() else None)
    return HardScene(name, frames, _drop_unseen(tracks))


def _drop_unseen(tracks: list[GTTrack]) -> list[GTTrack]:
    """Drop tracks never visible (an object the camera never shows, a part always hidden) and
    number the rest 1, 2, ... again: a GT track nobody can see would only lower every score."""
    seen = [tr for tr in tracks if tr.visible() and (tr.parent is None or tracks[tr.parent - 1].visible())]
    new_id = {tr.track_id: n + 1 for n, tr in enumerate(seen)}
    return [GTTrack(new_id[tr.track_id], tr.level, None if tr.parent is None else new_id[tr.parent], tr.kind, tr.rles)
            for tr in seen]
