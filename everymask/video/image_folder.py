"""A folder of images as a video: natural sort, one size for all, decoded on demand."""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from ..errors import EverymaskError
from . import fingerprint as fp
from .cache import FrameCache
from .frames import check_pixel_limit, resize, scaled_size, to_rgb8
from .image_header import image_size

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def natural_key(name: str) -> list:
    """Sort key that puts frame_2.jpg before frame_10.jpg (digit runs compare as numbers)."""
    return [(0, int(tok), "") if tok.isdigit() else (1, 0, tok.lower())
            for tok in re.split(r"(\d+)", name) if tok]


def list_images(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir()
             if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file()]
    return sorted(files, key=lambda p: natural_key(p.name))


class ImageFolderSource:
    """A folder of frames (jpg, png, bmp, tif, webp), or one image file, as a `FrameSource`.

    Every file's size is checked from its header when the folder is opened, so a stray
    screenshot fails at once with its name, not an hour into a run.
    """

    kind = "images"

    def __init__(self, path: str | Path, max_side: int = 0, cache_frames: int = 32,
                 fps: float = 30.0) -> None:
        self.path = str(path)
        folder = Path(path)
        self._files = [folder] if folder.is_file() else list_images(folder)
        if not self._files:
            exts = " ".join(IMAGE_EXTENSIONS)
            raise EverymaskError(
                f"no images ({exts}) in folder {folder}; pass a video file or a folder of frames"
            )
        self.fps = float(fps)
        self._cache = FrameCache(cache_frames)
        first_header = image_size(self._files[0])
        if first_header is not None:
            check_pixel_limit(self._files[0].name, first_header[1], first_header[0], max_side)
        first = self._decode(0)
        self._input_size = (int(first.shape[0]), int(first.shape[1]))
        check_pixel_limit(self._files[0].name, *self._input_size, max_side)
        self._size = scaled_size(*self._input_size, max_side)
        self._check_headers(first_header)
        self._cache.put(0, self._finish(first))

    def _check_headers(self, first_header: tuple[int, int] | None) -> None:
        """Every file must have the first one's size (from headers; decode only the unparsable)."""
        ref_name = self._files[0].name
        for i, path in enumerate(self._files[1:], start=1):
            header = image_size(path)
            if header is None:
                shape = self._decode(i).shape  # raises, naming the file, if it is not an image
                header = (shape[1], shape[0])
                ref = (self._input_size[1], self._input_size[0])
            else:
                ref = first_header if first_header is not None else (self._input_size[1], self._input_size[0])
            if header != ref:
                self._size_error(path.name, header, ref_name, ref)

    def _size_error(self, name: str, wh: tuple[int, int], ref_name: str, ref_wh: tuple[int, int]) -> None:
        raise EverymaskError(
            f"image {name} is {wh[0]}x{wh[1]} but {ref_name} is {ref_wh[0]}x{ref_wh[1]}; "
            "all frames in a folder must have the same size: resize or remove the odd ones"
        )

    def _decode(self, index: int) -> np.ndarray:
        path = self._files[index]
        try:
            data = np.fromfile(path, dtype=np.uint8)
            image = cv2.imdecode(data, cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH) if data.size else None
        except (cv2.error, OSError):
            image = None
        if image is None:
            raise EverymaskError(
                f"cannot decode image {path.name} (frame {index} of {len(self._files)}): it is "
                "empty, corrupt or not an image; replace or remove it"
            )
        return to_rgb8(image, bgr=True)

    def _finish(self, rgb: np.ndarray) -> np.ndarray:
        image = resize(rgb, self._size)
        image.setflags(write=False)
        return image

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` as H x W x 3 uint8 RGB (read-only view shared with the cache)."""
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"frame {index} out of range for {n} frames")
        index %= n
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        rgb = self._decode(index)
        if rgb.shape[:2] != self._input_size:
            h, w = rgb.shape[:2]
            ih, iw = self._input_size
            self._size_error(self._files[index].name, (w, h), self._files[0].name, (iw, ih))
        image = self._finish(rgb)
        self._cache.put(index, image)
        return image

    def __len__(self) -> int:
        return len(self._files)

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def input_size(self) -> tuple[int, int]:
        return self._input_size

    @property
    def files(self) -> list[Path]:
        return list(self._files)

    def fingerprint(self) -> str:
        n = len(self._files)
        sampled = sorted({0, n // 2, n - 1})
        return fp.combine({
            "kind": self.kind,
            "input_size": list(self._input_size),
            "frames": n,
            "files": [[p.name, p.stat().st_size] for p in self._files],
            "bytes": [fp.sampled_bytes_digest(self._files[i], samples=3, chunk=16 * 1024)
                      for i in sampled],
        })

    def close(self) -> None:
        self._cache.clear()

    def __enter__(self) -> "ImageFolderSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ImageFolderSource({self.path!r}, frames={len(self)}, size={self._size})"
