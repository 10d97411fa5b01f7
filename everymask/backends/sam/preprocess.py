"""Resize + normalise, prompt-coordinate scaling and mask upsampling for SAM 2 and SAM, in plain torch.

transformers' SAM processors need torchvision, which cannot be installed in a working state next
to the CPU torch here (and a broken torchvision breaks transformers' SAM 2 imports), so the few
operations they do are written out. They follow the original repositories:
- SAM 2 squashes the frame to a square `image_size` (no aspect kept) and predicts masks for that
  square; points scale x by S/W and y by S/H; masks are upsampled straight to (H, W). Its image
  predictor (and mask generator) resizes the float image bilinearly with antialiasing
  (torchvision `Resize`); its video predictor's frame loader resizes the uint8 frame with PIL's
  default bicubic filter and only then normalises (`sam2.utils.misc._load_img_as_tensor`).
- SAM resizes the longer side to `image_size`, pads bottom/right to a square; points scale by the
  same factor; masks are upsampled to the square, cropped to the unpadded part, then to (H, W).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _check(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 RGB frame, got {image.shape} {image.dtype}")


def _to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    _check(image)
    return torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1)[None].float()


def sam2_pixels(image: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """H x W x 3 uint8 -> 1 x 3 x size x size, ImageNet-normalised (SAM 2 input)."""
    x = _to_tensor(image, device) / 255.0
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


def sam2_video_pixels(image: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """H x W x 3 uint8 -> 1 x 3 x size x size as SAM 2's video predictor loads frames: PIL bicubic
    resize of the uint8 frame (rounded back to uint8), then /255 and ImageNet normalisation."""
    from PIL import Image

    _check(image)
    small = np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((size, size), Image.Resampling.BICUBIC))
    x = torch.from_numpy(small.copy()).to(device).permute(2, 0, 1)[None].float() / 255.0
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


def longest_side_shape(hw: tuple[int, int], size: int) -> tuple[int, int]:
    """SAM's ResizeLongestSide target shape (rounded half up, as the original)."""
    h, w = hw
    scale = size / max(h, w)
    return int(h * scale + 0.5), int(w * scale + 0.5)


def sam1_pixels(image: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """H x W x 3 uint8 -> 1 x 3 x size x size: longest side resized, normalised, zero-padded."""
    nh, nw = longest_side_shape(image.shape[:2], size)
    x = F.interpolate(_to_tensor(image, device), size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1) * 255
    x = (x - mean) / std
    return F.pad(x, (0, size - nw, 0, size - nh))


def scale_points(points_xy: torch.Tensor, hw: tuple[int, int], size: int, squash: bool) -> torch.Tensor:
    """Pixel (x, y) in an H x W frame -> model input coordinates (SAM 2 squashes, SAM keeps aspect)."""
    h, w = hw
    if squash:
        factor = torch.tensor([size / w, size / h], dtype=points_xy.dtype, device=points_xy.device)
    else:
        nh, nw = longest_side_shape(hw, size)
        factor = torch.tensor([nw / w, nh / h], dtype=points_xy.dtype, device=points_xy.device)
    return points_xy * factor


def upsample_logits(logits: torch.Tensor, hw: tuple[int, int], size: int, squash: bool) -> torch.Tensor:
    """N x h x w low-res mask logits -> N x H x W logits at the frame's resolution (float32)."""
    x = logits.float()[:, None]
    if squash:
        return F.interpolate(x, size=hw, mode="bilinear", align_corners=False)[:, 0]
    nh, nw = longest_side_shape(hw, size)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)[..., :nh, :nw]
    return F.interpolate(x, size=hw, mode="bilinear", align_corners=False)[:, 0]


def masks_to_input(masks: torch.Tensor, size: int) -> torch.Tensor:
    """N x H x W bool masks -> N x 1 x size x size {0, 1} floats, as SAM 2's video predictor
    prepares mask prompts (antialiased resize, then >= 0.5)."""
    x = masks.float()[:, None]
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return (x >= 0.5).float()
