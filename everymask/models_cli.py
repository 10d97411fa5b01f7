"""`everymask models`: the known model names, their hub ids, where each is looked for, which are present.

Needs no torch: it only looks at the Hugging Face cache on disk, so a user can check what a run
would find before installing or downloading anything.
"""
from __future__ import annotations

import json

from .backends.sam.names import DEFAULT_SAM1, DEFAULT_SAM2, SAM1_MODELS, SAM2_MODELS, find_cached, hub_cache_dir


def list_models() -> list[dict]:
    """One row per known model: backend, name, hub id, default or not, cache folder searched, present
    (a snapshot with config.json and safetensors weights) and the snapshot path when present."""
    cache = hub_cache_dir()
    rows = []
    for backend, table, default in (("sam2", SAM2_MODELS, DEFAULT_SAM2), ("sam", SAM1_MODELS, DEFAULT_SAM1)):
        for name, hub_id in table.items():
            snap = find_cached(hub_id, cache)
            rows.append({"backend": backend, "name": name, "hub_id": hub_id, "default": name == default,
                         "looked_in": str(cache / ("models--" + hub_id.replace("/", "--"))),
                         "present": snap is not None, "path": str(snap) if snap else ""})
    return rows


def format_models(rows: list[dict], as_json: bool = False) -> str:
    """A table for people (or JSON for scripts) of `list_models()`."""
    if as_json:
        return json.dumps(rows, indent=2)
    lines = [f"{'backend':8} {'model':10} {'hub id':32} {'present':8} where"]
    for r in rows:
        name = r["name"] + (" *" if r["default"] else "")
        lines.append(f"{r['backend']:8} {name:10} {r['hub_id']:32} {'yes' if r['present'] else 'no':8} "
                     f"{r['path'] or r['looked_in']}")
    lines.append("* default; --checkpoint PATH loads a hub folder or .safetensors file from anywhere")
    return "\n".join(lines)
