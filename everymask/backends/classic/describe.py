"""Appearance descriptors of the classic backend: colour statistics of each mask, for re-identification.

A mask's colours as a coarse histogram in CIE Lab (lightness x a x b), with the lightness measured
relative to the frame's own mean and spread, so a global change of brightness (flicker, exposure)
moves every colour together and leaves the histogram where it was. Rows are square-rooted and
L2-normalised: the cosine of two rows is then the Bhattacharyya coefficient of the histograms
(1 for the same colour distribution, 0 for disjoint ones).
"""
from __future__ import annotations

import cv2
import numpy as np

from ...masks import Masks, decode

L_BINS, AB_BINS = 4, 6
AB_RANGE = 40.0          # a and b beyond +-40 (saturated colours) share the outer bins
SAMPLE = 2               # every 2nd pixel in both directions: a histogram needs no more


def colour_bins(image: np.ndarray) -> np.ndarray:
    """H x W bin index (0 .. L_BINS * AB_BINS**2 - 1) of every pixel."""
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    lum = lab[..., 0]
    rel = (lum - lum.mean()) / max(float(lum.std()), 1.0)
    li = np.clip(((rel + 2.0) / 4.0 * L_BINS).astype(np.int64), 0, L_BINS - 1)
    ab = np.clip(((lab[..., 1:] + AB_RANGE) / (2 * AB_RANGE) * AB_BINS).astype(np.int64), 0, AB_BINS - 1)
    return (li * AB_BINS + ab[..., 0]) * AB_BINS + ab[..., 1]


class ColourDescriber:
    """`MaskDescriber` of the classic backend (see the module docstring)."""

    dim = L_BINS * AB_BINS * AB_BINS

    def describe(self, frame_index: int, image: np.ndarray, masks: Masks) -> np.ndarray:
        out = np.zeros((len(masks), self.dim), np.float32)
        if not len(masks):
            return out
        bins = colour_bins(image[::SAMPLE, ::SAMPLE])
        for start in range(0, len(masks), 32):         # decode a few masks at a time: bounded memory
            dense = decode(masks.rles[start:start + 32])[:, ::SAMPLE, ::SAMPLE]
            for n, m in enumerate(dense, start):
                hist = np.bincount(bins[m], minlength=self.dim).astype(np.float32)
                if hist.sum() > 0:
                    row = np.sqrt(hist / hist.sum())
                    out[n] = row / np.linalg.norm(row)
        return out
