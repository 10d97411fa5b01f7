"""Textures, materials and shapes for the hard synthetic scenes (`hard_scenes.py`).

Why a second set: the classic scenes' look (value noise, flat parts of a far colour) is what the
classic backend was tuned on, so its scores there flatter it. Here textures come from spectral
noise and procedural patterns, parts differ from their object in varied ways (a far colour, a
small hue step, a shade step, only the texture, or barely at all), and surfaces carry a height
map so a fixed light shades them differently as they turn.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

# how loud the background's stuff is: panels and pebbles per frame area, and how much of their own
# colour shows (the rest is the wall or floor under them)
STUFF_PANELS, STUFF_PEBBLES, STUFF_OPACITY = 4, 30, 0.75
TEXTURE_AMP = (0.12, 0.4)            # range of how strongly a surface's pattern moves its brightness
RELIEF = (0.15, 0.45)                # range of a sprite's dome height, as a fraction of its size
PATTERNS = ("mottled", "grainy", "stripes", "checks", "dots", "wood", "weave")
# how a part's material differs from its object's; "subtle" is a small shade step plus a bevel
PART_LOOKS = ("contrast", "hue", "shade", "texture", "subtle")


# textures ------------------------------------------------------------------------------------
def spectral_noise(rng: np.random.Generator, h: int, w: int, beta: float) -> np.ndarray:
    """Noise with a 1/f^beta power spectrum, scaled to about [-1, 1] (beta 2: clouds, 1: grain)."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    spec = np.fft.rfft2(rng.standard_normal((h, w))) / f ** (beta / 2)
    spec[0, 0] = 0
    out = np.fft.irfft2(spec, s=(h, w))
    return np.clip(out / (2.5 * (out.std() + 1e-9)), -1, 1).astype(np.float32)


def pattern(rng: np.random.Generator, name: str, h: int, w: int, period: float) -> np.ndarray:
    """A texture field in [-1, 1] of `name` with features about `period` pixels apart."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, np.pi)
    u = xx * np.cos(a) + yy * np.sin(a)
    v = -xx * np.sin(a) + yy * np.cos(a)
    warp = spectral_noise(rng, h, w, 2.5)
    if name == "mottled":
        return spectral_noise(rng, h, w, 2.0)
    if name == "grainy":
        return spectral_noise(rng, h, w, 0.8)
    if name == "stripes":
        return np.sin(2 * np.pi * u / period + 2.0 * warp).astype(np.float32)
    if name == "checks":
        return np.tanh(3 * np.sin(np.pi * u / period) * np.sin(np.pi * v / period)).astype(np.float32)
    if name == "wood":
        return np.sin(2 * np.pi * (u + 4 * period * warp) / (0.6 * period)).astype(np.float32) * 0.8
    if name == "weave":
        return (0.5 * (np.sin(2 * np.pi * u / period) + np.sin(2 * np.pi * v / period))
                * (0.7 + 0.3 * warp)).astype(np.float32)
    if name == "dots":
        m = np.zeros((h, w), np.float32)
        n = max(1, int(h * w / (period * period * 2.5)))
        for x, y, r in zip(rng.uniform(0, w, n), rng.uniform(0, h, n), rng.uniform(0.2, 0.45, n) * period):
            cv2.circle(m, (int(x), int(y)), max(1, int(r)), 1.0, -1)
        return (cv2.GaussianBlur(m, (0, 0), 0.6) * 1.6 - 0.5).clip(-1, 1)
    raise ValueError(f"unknown pattern {name!r}")


@dataclass(frozen=True)
class Material:
    """A colour (HSV: hue in degrees, saturation and value in 0..1) with a pattern on it."""

    hue: float
    sat: float
    val: float
    pattern: str
    period: float
    amp: float                      # how much the pattern moves the value (0.1 faint .. 0.45 strong)

    def render(self, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        """h x w x 3 float32 RGB albedo in 0..1."""
        f = pattern(rng, self.pattern, h, w, self.period)
        tint = spectral_noise(rng, h, w, 2.0)
        hsv = np.empty((h, w, 3), np.float32)
        hsv[..., 0] = (self.hue + 10 * tint) % 360
        hsv[..., 1] = np.clip(self.sat * (1 + 0.25 * self.amp * f + 0.1 * tint), 0, 1)
        hsv[..., 2] = np.clip(self.val * (1 + self.amp * f), 0.02, 1)
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def random_material(rng: np.random.Generator, scale: float) -> Material:
    return Material(hue=float(rng.uniform(0, 360)), sat=float(rng.uniform(0.15, 0.85)),
                    val=float(rng.uniform(0.3, 0.9)), pattern=str(rng.choice(PATTERNS)),
                    period=float(rng.uniform(3, 9) * scale + 1.5), amp=float(rng.uniform(*TEXTURE_AMP)))


def part_material(rng: np.random.Generator, base: Material, look: str, scale: float) -> Material:
    """The material of a part that differs from `base` as `look` says (see PART_LOOKS)."""
    m = base
    if look == "contrast":
        return Material((m.hue + rng.uniform(90, 270)) % 360, float(rng.uniform(0.2, 0.9)),
                        float(np.clip(m.val + rng.choice([-1, 1]) * rng.uniform(0.2, 0.4), 0.12, 0.95)),
                        str(rng.choice(PATTERNS)), float(rng.uniform(2, 8) * scale + 1.5),
                        float(rng.uniform(0.1, 0.35)))
    if look == "hue":
        return Material((m.hue + rng.choice([-1, 1]) * rng.uniform(18, 40)) % 360, min(1.0, m.sat + 0.1),
                        m.val, m.pattern, m.period, m.amp)
    if look == "shade":
        k = rng.choice([0.72, 0.8, 1.22, 1.3])
        return Material(m.hue, m.sat, float(np.clip(m.val * k, 0.08, 1)), m.pattern, m.period, m.amp)
    if look == "texture":
        other = [p for p in PATTERNS if p != m.pattern]
        return Material(m.hue, m.sat, m.val, str(rng.choice(other)), m.period * rng.uniform(0.5, 1.6),
                        float(np.clip(m.amp * rng.uniform(1.1, 1.6), 0.2, 0.5)))
    if look == "subtle":
        return Material((m.hue + 6) % 360, m.sat, float(np.clip(m.val * 0.92, 0.05, 1)), m.pattern, m.period, m.amp)
    raise ValueError(f"unknown part look {look!r}")


# shapes: a label map (0 outside, 1 the object's own surface, 2.. its parts) ---------------------
def _pts(*xy: tuple[float, float]) -> np.ndarray:
    return np.array([[int(round(x)), int(round(y))] for x, y in xy], np.int32)


def _vehicle(rng, s):
    w, h = int(s), int(s * rng.uniform(0.55, 0.7))
    lab = np.zeros((h, w), np.uint8)
    cv2.rectangle(lab, (0, int(.36 * h)), (w - 1, int(.8 * h)), 1, -1)
    cv2.fillPoly(lab, [_pts((.2 * w, .38 * h), (.3 * w, .04 * h), (.68 * w, .04 * h), (.78 * w, .38 * h))], 1)
    win = np.zeros_like(lab)
    cv2.fillPoly(win, [_pts((.27 * w, .36 * h), (.34 * w, .12 * h), (.64 * w, .12 * h), (.71 * w, .36 * h))], 1)
    lab[win > 0] = 2
    r = max(2, int(.19 * h))
    cv2.circle(lab, (int(.22 * w), h - r - 1), r, 3, -1)
    cv2.circle(lab, (int(.78 * w), h - r - 1), r, 4, -1)
    return lab


def _figure(rng, s):
    w, h = int(s * 0.7), int(s)
    lab = np.zeros((h, w), np.uint8)
    cv2.ellipse(lab, (w // 2, int(.57 * h)), (int(.32 * w), int(.28 * h)), 0, 0, 360, 1, -1)
    t = max(2, int(.13 * w))
    cv2.line(lab, (int(.38 * w), int(.78 * h)), (int(.3 * w), h - t), 1, t)
    cv2.line(lab, (int(.62 * w), int(.78 * h)), (int(.7 * w), h - t), 1, t)
    cv2.circle(lab, (w // 2, int(.17 * h)), int(.15 * h), 2, -1)
    belly = np.zeros_like(lab)
    cv2.ellipse(belly, (w // 2, int(.6 * h)), (int(.18 * w), int(.15 * h)), 0, 0, 360, 1, -1)
    lab[belly > 0] = 3
    if rng.random() < 0.5:
        cv2.line(lab, (int(.8 * w), int(.45 * h)), (w - t, int(.2 * h)), 4, t)
    return lab


def _bottle(rng, s):
    w, h = int(s * rng.uniform(0.45, 0.6)), int(s)
    lab = np.zeros((h, w), np.uint8)
    cv2.rectangle(lab, (0, int(.36 * h)), (w - 1, h - 1), 1, -1)
    cv2.ellipse(lab, (w // 2, int(.36 * h)), (w // 2 - 1, int(.1 * h)), 0, 180, 360, 1, -1)
    cv2.rectangle(lab, (int(.32 * w), int(.08 * h)), (int(.68 * w), int(.3 * h)), 1, -1)
    cv2.rectangle(lab, (int(.26 * w), 0), (int(.74 * w), int(.11 * h)), 2, -1)
    lab[int(.52 * h):int(.76 * h)][lab[int(.52 * h):int(.76 * h)] == 1] = 3
    return lab


def _fruit(rng, s):
    w = h = int(s)
    lab = np.zeros((h, w), np.uint8)
    th = np.linspace(0, 2 * np.pi, 90, endpoint=False)
    r = np.ones_like(th)
    for k in range(2, 6):
        r += rng.uniform(0, 0.16 / k * 2) * np.cos(k * th + rng.uniform(0, 2 * np.pi))
    r = 0.4 * s * r / r.max()
    cv2.fillPoly(lab, [_pts(*zip(w / 2 + r * np.cos(th), .56 * h + r * np.sin(th)))], 1)
    cv2.ellipse(lab, (int(.58 * w), int(.12 * h)), (int(.16 * w), int(.07 * h)), -25, 0, 360, 2, -1)
    spot = np.zeros_like(lab)
    cv2.ellipse(spot, (int(.42 * w), int(.6 * h)), (int(.14 * w), int(.11 * h)), rng.uniform(0, 180), 0, 360, 1, -1)
    lab[(spot > 0) & (lab == 1)] = 3
    return lab


def _racket(rng, s):
    w, h = int(s * 0.6), int(s)
    lab = np.zeros((h, w), np.uint8)
    cv2.ellipse(lab, (w // 2, int(.32 * h)), (w // 2 - 1, int(.3 * h)), 0, 0, 360, 1, -1)
    face = np.zeros_like(lab)
    cv2.ellipse(face, (w // 2, int(.32 * h)), (int(.3 * w), int(.19 * h)), 0, 0, 360, 1, -1)
    lab[face > 0] = 2
    cv2.rectangle(lab, (int(.4 * w), int(.6 * h)), (int(.6 * w), h - 1), 3, -1)
    return lab


def _house(rng, s):
    w, h = int(s), int(s * 0.9)
    lab = np.zeros((h, w), np.uint8)
    cv2.rectangle(lab, (0, int(.36 * h)), (w - 1, h - 1), 1, -1)
    cv2.fillPoly(lab, [_pts((0, .37 * h), (w - 1, .37 * h), (.5 * w, 0))], 2)
    cv2.rectangle(lab, (int(.58 * w), int(.6 * h)), (int(.8 * w), h - 1), 3, -1)
    if rng.random() < 0.6:
        cv2.rectangle(lab, (int(.12 * w), int(.5 * h)), (int(.38 * w), int(.72 * h)), 4, -1)
    return lab


def _mushroom(rng, s):
    w, h = int(s * 0.85), int(s)
    lab = np.zeros((h, w), np.uint8)
    cv2.rectangle(lab, (int(.33 * w), int(.38 * h)), (int(.67 * w), h - 1), 1, -1)
    cv2.ellipse(lab, (w // 2, int(.45 * h)), (w // 2 - 1, int(.42 * h)), 0, 180, 360, 2, -1)
    lab[int(.62 * h):int(.74 * h)][lab[int(.62 * h):int(.74 * h)] == 1] = 3
    return lab


def _fish(rng, s):
    w, h = int(s), int(s * 0.6)
    lab = np.zeros((h, w), np.uint8)
    cv2.fillPoly(lab, [_pts((.32 * w, .2 * h), (.45 * w, 0), (.55 * w, .2 * h))], 3)
    cv2.ellipse(lab, (int(.42 * w), h // 2), (int(.38 * w), int(.36 * h)), 0, 0, 360, 1, -1)
    cv2.fillPoly(lab, [_pts((.76 * w, .5 * h), (w - 1, .08 * h), (w - 1, .92 * h))], 2)
    band = np.zeros_like(lab)
    cv2.rectangle(band, (int(.5 * w), 0), (int(.6 * w), h - 1), 1, -1)
    lab[(band > 0) & (lab == 1)] = 4
    return lab


SHAPES: dict[str, Callable[[np.random.Generator, float], np.ndarray]] = {
    "vehicle": _vehicle, "figure": _figure, "bottle": _bottle, "fruit": _fruit, "racket": _racket,
    "house": _house, "mushroom": _mushroom, "fish": _fish}


# sprites -------------------------------------------------------------------------------------
@dataclass
class Sprite:
    """An object in its own frame: albedo, labels (0 out, 1 own surface, 2.. parts), surface normals."""

    family: str
    albedo: np.ndarray              # h x w x 3 float32
    labels: np.ndarray              # h x w uint8
    normals: np.ndarray             # h x w x 3 float32, unit
    gloss: float                    # 0: matte .. 0.5: shiny highlight
    looks: list[str]                # per part: how it differs from the object (PART_LOOKS)

    @property
    def num_parts(self) -> int:
        return len(self.looks)

    def shaded(self, light: np.ndarray) -> np.ndarray:
        """RGB under a light direction given in the sprite's frame (x, y, z; z towards the viewer)."""
        diffuse = np.clip(self.normals @ light, 0, 1)
        half = light + np.array([0, 0, 1], np.float32)
        half /= np.linalg.norm(half)
        spec = self.gloss * np.clip(self.normals @ half, 0, 1) ** 24
        return self.albedo * (0.4 + 0.75 * diffuse)[..., None] + spec[..., None]


def make_sprite(rng: np.random.Generator, family: str, size: float, scale: float) -> Sprite:
    """A sprite of `family` about `size` px across; `scale` (frame height / 240) sizes the textures."""
    labels = SHAPES[family](rng, size)
    present = [v for v in range(2, int(labels.max()) + 1) if (labels == v).any()]
    labels = np.searchsorted([0, 1, *present], labels).astype(np.uint8)   # parts numbered 2.. without gaps
    base = random_material(rng, scale)
    order = list(rng.permutation(PART_LOOKS))
    looks = [str(order[i % len(order)]) for i in range(len(present))]
    h, w = labels.shape
    albedo = base.render(rng, h, w)
    for p, look in enumerate(looks):
        m = labels == p + 2
        albedo[m] = part_material(rng, base, look, scale).render(rng, h, w)[m]
    # height: a dome over the silhouette, each part raised or sunk a little (a bevel at its border)
    inside = (labels > 0).astype(np.uint8)
    dist = cv2.distanceTransform(np.pad(inside, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    height = np.sqrt(dist / max(float(dist.max()), 1.0)) * rng.uniform(*RELIEF) * max(h, w)
    for p, look in enumerate(looks):
        step = rng.uniform(1.5, 3.5) * (1.5 if look == "subtle" else 1.0)
        height += (labels == p + 2) * step * rng.choice([-1, 1]) * max(scale, 0.3)
    height = cv2.GaussianBlur(height.astype(np.float32), (0, 0), 1.0)
    gy, gx = np.gradient(height)
    n = np.dstack([-gx, -gy, np.ones_like(gx)]).astype(np.float32)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    return Sprite(family, albedo, labels, n, float(rng.choice([0.0, 0.0, 0.25, 0.5])), looks)


# background ----------------------------------------------------------------------------------
def _colour(rng: np.random.Generator, lo: float, hi: float) -> tuple[float, float, float]:
    return tuple(float(c) for c in rng.uniform(lo, hi, 3))


def background(rng: np.random.Generator, bh: int, bw: int, H: int, W: int, horizon_y: int,
               stuff: bool = True) -> np.ndarray:
    """A bh x bw world canvas (frames are H x W): a wall over a floor meeting near `horizon_y`,
    panels and shelves on the wall, poles, pebbles and leaves on the floor (`stuff`), uneven light.
    Stuff, not things: the ground truth ignores all of it, as a real annotation would."""
    u = H / 240
    wall = random_material(rng, u * 3).render(rng, bh, bw)
    floor = Material(float(rng.uniform(0, 360)), float(rng.uniform(0.15, 0.6)), float(rng.uniform(0.35, 0.7)),
                     str(rng.choice(["wood", "stripes", "checks", "grainy"])), float(rng.uniform(6, 14) * u),
                     0.3).render(rng, bh, bw)
    horizon = (horizon_y + 0.15 * H * spectral_noise(rng, 1, bw, 3.0)[0]).astype(int)
    img = np.where((np.arange(bh)[:, None] > horizon[None, :])[..., None], floor, wall)
    if stuff:
        img = _add_stuff(rng, img, horizon, H, W)
    light = 1 + 0.22 * spectral_noise(rng, bh, bw, 3.0)
    return (img * light[..., None]).astype(np.float32)


def _add_stuff(rng: np.random.Generator, img: np.ndarray, horizon: np.ndarray, H: int, W: int) -> np.ndarray:
    """Panels and shelves on the wall, poles and cables, pebbles and leaves on the floor, drawn into
    the canvas `img` (wall above `horizon`, floor below) and blended with it at STUFF_OPACITY."""
    bh, bw = img.shape[:2]
    u = H / 240
    plain = img.copy()
    for _ in range(int(bw * bh / (W * H) * STUFF_PANELS)):        # panels, shelves, windows on the wall
        pw, ph = int(rng.uniform(25, 110) * u), int(rng.uniform(20, 80) * u)
        x0, y0 = int(rng.uniform(0, bw - pw)), int(rng.uniform(0, max(1, horizon.min() - ph)))
        panel = random_material(rng, u).render(rng, ph, pw)
        cv2.rectangle(panel, (0, 0), (pw - 1, ph - 1), _colour(rng, 0, 0.4), max(1, int(2 * u)))
        img[y0:y0 + ph, x0:x0 + pw] = panel
    for _ in range(int(bw / W * 2) + 1):                          # poles and cables
        x = int(rng.uniform(0, bw))
        cv2.line(img, (x, 0), (x + int(rng.uniform(-30, 30) * u), bh), _colour(rng, 0.05, 0.5),
                 max(1, int(rng.uniform(2, 6) * u)))
    for _ in range(int(bw * bh / (W * H) * STUFF_PEBBLES)):       # pebbles and leaves
        x, y = int(rng.uniform(0, bw)), int(rng.uniform(horizon.min(), bh))
        r = max(1, int(rng.uniform(2, 7) * u))
        cv2.ellipse(img, (x, y), (r, max(1, int(r * rng.uniform(0.5, 1)))), rng.uniform(0, 180), 0, 360,
                    _colour(rng, 0.1, 0.8), -1)
    return STUFF_OPACITY * img + (1 - STUFF_OPACITY) * plain
