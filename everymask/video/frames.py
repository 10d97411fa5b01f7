"""Pixel plumbing shared by every source: any image array -> RGB uint8, downscale, size limit."""
from __future__ import annotations

import cv2
import numpy as np

from ..errors import EverymaskError

#: Largest frame (height * width, after `max_side`) we accept: 40 megapixels is ~120 MB per RGB
#: frame, beyond which the frame cache and the models run out of memory on ordinary machines.
MAX_PIXELS = 40_000_000


def scaled_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(H, W) after shrinking so the longer side is at most `max_side` (0: unchanged, never up)."""
    if max_side <= 0 or max(height, width) <= max_side:
        return height, width
    scale = max_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def check_pixel_limit(name: str, height: int, width: int, max_side: int) -> None:
    """Refuse frames too large to hold, unless `max_side` brings them under the limit."""
    out_h, out_w = scaled_size(height, width, max_side)
    if out_h * out_w > MAX_PIXELS:
        limit_mp = MAX_PIXELS / 1e6
        raise EverymaskError(
            f"{name}: frames are {width}x{height} ({height * width / 1e6:.1f} megapixels), above the "
            f"{limit_mp:g} megapixel limit; pass --max-side 4096 (or smaller) to downscale them"
        )


def to_rgb8(image: np.ndarray, bgr: bool) -> np.ndarray:
    """Gray, gray+alpha, RGB(A)/BGR(A), 8/16-bit or float -> H x W x 3 uint8 RGB.

    Alpha is dropped (not composited): masks are about the pixels, not the page behind them.
    """
    if image.dtype == np.uint16:
        image = ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = image.astype(np.float64)
        if image.size and image.max() <= 1.0:
            image = image * 255.0
        image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = image[:, :, None]
    channels = image.shape[2]
    if channels in (1, 2):
        return np.ascontiguousarray(np.repeat(image[:, :, :1], 3, axis=2))
    image = image[:, :, :3]
    if bgr:
        image = image[:, :, ::-1]
    return np.ascontiguousarray(image)


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Downscale to (H, W) with area averaging, which does not alias fine texture."""
    if image.shape[:2] == size:
        return image
    return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
