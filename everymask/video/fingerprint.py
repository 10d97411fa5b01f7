"""Cheap, process-stable fingerprints: a resumed run must be reading the same input."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

CHUNK = 64 * 1024
SAMPLES = 5


def sampled_bytes_digest(path: Path, samples: int = SAMPLES, chunk: int = CHUNK) -> str:
    """sha256 of `samples` evenly spaced chunks of the file: O(1) reads even for a 10 GB file."""
    size = os.path.getsize(path)
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        if size <= samples * chunk:
            digest.update(f.read())
        else:
            for k in range(samples):
                f.seek((size - chunk) * k // (samples - 1))
                digest.update(f.read(chunk))
    return digest.hexdigest()


def combine(fields: dict) -> str:
    """sha256 of a canonical JSON of `fields` (sorted keys, no whitespace games)."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
