"""Peak RSS of propagating 144 seeds over 3 frames with the tiny random model at a given H x W.

Full-resolution (video size) stacks are what grows with the frame size; run once per size in a
fresh process and compare: `python benchmarks/sam2_prop_rss.py 240x426` vs `720x1280`.
"""
import resource
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import sam_fixtures as F  # noqa: E402
from everymask.backends.sam.backend import make_backend  # noqa: E402
from everymask.config import RunConfig, RuntimeOptions  # noqa: E402
from everymask.masks import Masks  # noqa: E402

torch.set_num_threads(1)
h, w = (int(v) for v in sys.argv[1].split("x"))
model = F.build("sam2")
frames = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_NEAREST) for f in F.clip(4, size=(96, 128))])
rng = np.random.default_rng(0)
parts = []
for i in range(144):
    d = np.zeros((1, h, w), bool)
    y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
    d[0, y:y + h // 3, x:x + w // 3] = True
    parts.append(Masks.from_dense(d, [i]))
seeds = Masks.concat(parts)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
b = make_backend(RunConfig(backend="sam2"), RuntimeOptions(device="cpu"), torch.device("cpu"), model, "tiny")
n = sum(len(m) for _, m in b.propagator.propagate(F.ArraySource(frames), 0, 3, seeds))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{h}x{w}: masks {n}, peak RSS {peak/1024:.0f} MB (before propagation {base/1024:.0f} MB)")
