"""Video input: exact frames, random access, orientation, formats, and every bad input we know."""
from __future__ import annotations

import struct
import subprocess
import sys
import warnings
import zlib
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from everymask.errors import EverymaskError
from everymask.video import ImageFolderSource, PyAVSource, open_source
from everymask.video import frames as frames_mod
from everymask.video.cache import FrameCache
from everymask.video.image_folder import natural_key


# -- helpers -------------------------------------------------------------------------------------

def pattern(i: int, h: int = 48, w: int = 64) -> np.ndarray:
    """A frame whose pixels say which frame it is, with structure so orientation is visible."""
    a = np.zeros((h, w, 3), np.uint8)
    a[:, :, 0] = (i * 9) % 256
    a[: h // 2, : w // 4, 1] = 255  # top-left marker
    a[h - 4:, w - 6:, 2] = 200  # bottom-right marker
    return a


def write_video(path: Path, frames: list[np.ndarray], codec: str = "libx264", pix_fmt: str = "yuv420p",
                rate: int = 25, options: dict | None = None, container_options: dict | None = None,
                rotation: int | None = None, hflip: bool = False, vflip: bool = False, pts: list[int] | None = None,
                time_base: Fraction | None = None) -> Path:
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", options=container_options or {}) as c:
        s = c.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        if time_base is not None:
            s.time_base = time_base
            s.codec_context.time_base = time_base
        # one encoder thread: the ffv1 encoder's slice threads rarely mix two frames under load
        s.options = {"threads": "1", **(options or {})}
        if rotation is not None or hflip or vflip:
            s.set_display_rotation(rotation or 0, hflip=hflip, vflip=vflip)
        for i, a in enumerate(frames):
            f = av.VideoFrame.from_ndarray(a, format="rgb24")
            if pts is not None:
                f.pts = pts[i]
                f.time_base = time_base
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


LOSSLESS = dict(codec="libx264rgb", pix_fmt="rgb24", options={"qp": "0", "g": "8", "bf": "2"})


def sequential_decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def write_png(path: Path, a: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", a)
    assert ok
    buf.tofile(str(path))


def image_folder(tmp_path: Path, n: int = 4, size: tuple[int, int] = (12, 16), name: str = "frames") -> Path:
    d = tmp_path / name
    d.mkdir()
    for i in range(n):
        write_png(d / f"{i:03d}.png", pattern(i, *size)[:, :, ::-1])  # cv2 writes BGR
    return d


def huge_png_header(path: Path, width: int, height: int) -> None:
    """A valid, tiny 1-bit PNG of `width` x `height`: huge on decode, cheap on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


# -- videos: exact frames and random access ---------------------------------------------------------

CONTAINERS = [
    ("clip.mp4", dict(codec="libx264", options={"g": "7", "bf": "3"})),
    ("clip.mkv", dict(codec="libx264", options={"g": "5", "bf": "2"})),
    ("clip.webm", dict(codec="libvpx-vp9", options={"g": "6", "deadline": "realtime", "cpu-used": "8"})),
    ("clip.avi", dict(codec="mpeg4", options={"g": "6"})),
    ("clip.mov", dict(codec="libx264", options={"g": "9", "bf": "1"})),
]


@pytest.mark.parametrize("name,kw", CONTAINERS, ids=[c[0] for c in CONTAINERS])
def test_random_access_equals_sequential_decode(tmp_path, name, kw):
    path = write_video(tmp_path / name, [pattern(i) for i in range(40)], **kw)
    ref = sequential_decode(path)
    assert len(ref) == 40
    rng = np.random.default_rng(0)
    with open_source(path, cache_frames=4) as src:
        assert len(src) == 40 and src.size == (48, 64) and src.input_size == (48, 64)
        assert src.fps == pytest.approx(25.0)
        for i in rng.permutation(40).tolist() + list(range(39, -1, -1)) + list(range(40)):
            got = src.frame(i)
            assert got.dtype == np.uint8 and got.shape == (48, 64, 3)
            np.testing.assert_array_equal(got, ref[i], err_msg=f"{name} frame {i}")


def test_engine_pattern_decodes_each_frame_once(tmp_path):
    """Forward 6, back 6, advance 5: the backward pass must be cache hits, no re-seek."""
    path = write_video(tmp_path / "clip.mp4", [pattern(i) for i in range(41)], **LOSSLESS)
    with open_source(path) as src:
        assert isinstance(src, PyAVSource)
        for k in range(0, 36, 5):
            for i in list(range(k, k + 6)) + list(range(k + 5, k - 1, -1)):
                np.testing.assert_array_equal(src.frame(i), pattern(i))
        assert src.seeks == 1
        assert src.decoded == 41


def test_cache_is_bounded(tmp_path):
    path = write_video(tmp_path / "clip.mp4", [pattern(i) for i in range(30)], **LOSSLESS)
    with open_source(path, cache_frames=5) as src:
        for i in range(30):
            src.frame(i)
        assert len(src._cache) == 5
    cache = FrameCache(2)
    for i in range(3):
        cache.put(i, np.zeros(1))
    assert 0 not in cache and 1 in cache and 2 in cache
    cache.get(1)  # 1 is now the most recent: 2 goes next
    cache.put(3, np.zeros(1))
    assert 2 not in cache and 1 in cache and 3 in cache
    cache = FrameCache(10, max_bytes=250)
    for i in range(4):
        cache.put(i, np.zeros(100, np.uint8))
    assert len(cache) == 2 and cache.nbytes == 200 and 3 in cache
    cache.put(9, np.zeros(1000, np.uint8))  # larger than the cap: kept alone
    assert len(cache) == 1 and 9 in cache


def test_variable_frame_rate_keeps_every_frame_in_order(tmp_path):
    pts = [0, 10, 15, 90, 95, 200, 201, 202, 400, 1000]  # ms: irregular gaps
    frames = [pattern(i) for i in range(len(pts))]
    path = write_video(tmp_path / "vfr.mkv", frames, pts=pts, time_base=Fraction(1, 1000),
                       **LOSSLESS)
    with open_source(path) as src:
        assert len(src) == len(pts)
        for i in [9, 0, 5, 4, 3, 8, 1, 2, 6, 7]:
            np.testing.assert_array_equal(src.frame(i), frames[i])


@pytest.mark.parametrize("degrees,hflip,vflip", [(90, False, False), (-90, False, False), (180, False, False),
                                                 (90, True, False), (0, True, False), (0, False, True),
                                                 (-90, False, True), (270, True, True), (180, True, False)])
def test_rotation_metadata_is_applied(tmp_path, degrees, hflip, vflip):
    """All eight EXIF orientations as a display matrix: rotated counterclockwise, then mirrored."""
    path = write_video(tmp_path / "rot.mp4", [pattern(i) for i in range(3)], rotation=degrees,
                       hflip=hflip, vflip=vflip, **LOSSLESS)
    expected = np.rot90(pattern(2), degrees // 90)
    if hflip:
        expected = expected[:, ::-1]
    if vflip:
        expected = expected[::-1]
    with open_source(path) as src:
        assert src.input_size == expected.shape[:2] == src.size
        np.testing.assert_array_equal(src.frame(2), expected)


@pytest.mark.parametrize("codec,pix_fmt,w,h", [
    ("ffv1", "gray", 33, 17),
    ("libx264", "yuv444p", 31, 19),
    ("libx264", "yuv420p10le", 64, 48),
    ("ffv1", "yuv420p16le", 35, 21),
])
def test_pixel_formats_and_odd_sizes_give_rgb8(tmp_path, codec, pix_fmt, w, h):
    frames = [np.full((h, w, 3), 10 + 60 * i, np.uint8) for i in range(3)]
    path = write_video(tmp_path / "fmt.mkv", frames, codec=codec, pix_fmt=pix_fmt)
    ref = sequential_decode(path)
    with open_source(path) as src:
        assert len(src) == 3 and src.size == (h, w)
        for i in range(3):
            got = src.frame(i)
            assert got.dtype == np.uint8 and got.shape == (h, w, 3)
            np.testing.assert_array_equal(got, ref[i])
            assert np.abs(got.astype(int) - (10 + 60 * i)).max() <= 3


def test_max_side_downscales_with_area(tmp_path):
    frames = [np.full((60, 100, 3), (200, 100, 50), np.uint8) for _ in range(3)]
    frames[1][:, :50] = 0  # left half black: area average keeps the edge at column 25
    path = write_video(tmp_path / "big.mp4", frames, **LOSSLESS)
    with open_source(path, max_side=50) as src:
        assert src.input_size == (60, 100) and src.size == (30, 50)
        np.testing.assert_array_equal(src.frame(0)[0, 0], [200, 100, 50])
        row = src.frame(1)[10]
        assert (row[:25] == 0).all() and (row[25:] == [200, 100, 50]).all()
    with open_source(path, max_side=500) as src:  # never upscales
        assert src.size == (60, 100)


# -- image folders --------------------------------------------------------------------------------

def test_natural_sort_and_fps(tmp_path):
    d = tmp_path / "frames"
    d.mkdir()
    for i in [10, 2, 1, 33, 3]:
        write_png(d / f"f{i}.png", pattern(i, 8, 8)[:, :, ::-1])
    (d / "notes.txt").write_text("not an image")
    with open_source(d) as src:
        assert isinstance(src, ImageFolderSource) and src.fps == 30.0
        assert [p.name for p in src.files] == ["f1.png", "f2.png", "f3.png", "f10.png", "f33.png"]
        for k, i in enumerate([1, 2, 3, 10, 33]):
            np.testing.assert_array_equal(src.frame(k), pattern(i, 8, 8))
    assert open_source(d, fps=12).fps == 12.0
    assert sorted(["a10", "a2", "a1"], key=natural_key) == ["a1", "a2", "a10"]


def test_gray_rgba_16bit_images(tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    write_png(d / "0.png", np.full((4, 5), 77, np.uint8))  # gray
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., :3] = (30, 20, 10)  # BGR
    rgba[..., 3] = 0  # fully transparent: alpha dropped, colour kept
    write_png(d / "1.png", rgba)
    write_png(d / "2.png", np.full((4, 5, 3), 65535, np.uint16))  # 16-bit white
    write_png(d / "3.png", np.full((4, 5), 257 * 40, np.uint16))  # 16-bit gray
    cv2.imwrite(str(d / "4.jpg"), np.full((4, 5, 3), 128, np.uint8))
    cv2.imwrite(str(d / "5.bmp"), np.full((4, 5, 3), (1, 2, 3), np.uint8))
    cv2.imwrite(str(d / "6.tif"), np.full((4, 5, 3), (9, 8, 7), np.uint8))
    cv2.imwrite(str(d / "7.webp"), np.full((4, 5, 3), 0, np.uint8), [cv2.IMWRITE_WEBP_QUALITY, 101])
    with open_source(d) as src:
        assert len(src) == 8 and src.size == (4, 5)
        expected = [(77, 77, 77), (10, 20, 30), (255, 255, 255), (40, 40, 40), None,
                    (3, 2, 1), (7, 8, 9), (0, 0, 0)]
        for i, rgb in enumerate(expected):
            got = src.frame(i)
            assert got.dtype == np.uint8 and got.shape == (4, 5, 3)
            if rgb is None:
                assert np.abs(got.astype(int) - 128).max() <= 2
            else:
                assert (got == rgb).all(), (i, got[0, 0])


def _jpeg_with_orientation(a_bgr: np.ndarray, orientation: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", a_bgr, [cv2.IMWRITE_JPEG_QUALITY, 100])
    tiff = (b"MM\x00\x2a" + struct.pack(">IH", 8, 1)
            + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0))
    app1 = b"Exif\x00\x00" + tiff
    data = buf.tobytes()
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:]


def test_jpeg_exif_orientation_applied(tmp_path):
    """Phone photos: EXIF orientation 6 (rotate 90 clockwise) gives upright frames."""
    d = tmp_path / "phone"
    d.mkdir()
    a = np.zeros((20, 40, 3), np.uint8)
    a[:8, :8] = 255  # top-left white block
    for i in range(2):
        (d / f"IMG_{i}.jpg").write_bytes(_jpeg_with_orientation(a, 6))
    with open_source(d) as src:
        assert src.size == (40, 20)
        got = src.frame(1)
        assert got[:8, -8:].min() > 200 and got[-8:, :8].max() < 50  # block now top-right


def test_single_1x1_image_works(tmp_path):
    write_png(tmp_path / "dot.png", np.array([[[3, 2, 1]]], np.uint8))
    with open_source(tmp_path / "dot.png") as src:
        assert len(src) == 1 and src.size == (1, 1)
        np.testing.assert_array_equal(src.frame(0), [[[1, 2, 3]]])
    d = tmp_path / "one"
    d.mkdir()
    write_png(d / "a.png", np.array([[[3, 2, 1]]], np.uint8))
    assert open_source(d).frame(0).tolist() == [[[1, 2, 3]]]


def test_folder_max_side(tmp_path):
    d = image_folder(tmp_path, n=2, size=(40, 80))
    with open_source(d, max_side=20) as src:
        assert src.input_size == (40, 80) and src.size == (10, 20)
        assert src.frame(1).shape == (10, 20, 3)


# -- bad input: one line, names the problem and the fix -------------------------------------------

def _text_mp4(tmp_path: Path) -> Path:
    p = tmp_path / "notes.mp4"
    p.write_text("this is not a video\n" * 50)
    return p


def _empty_file(tmp_path: Path) -> Path:
    p = tmp_path / "empty.mp4"
    p.write_bytes(b"")
    return p


def _empty_dir(tmp_path: Path) -> Path:
    d = tmp_path / "nothing"
    d.mkdir()
    (d / "readme.txt").write_text("no images here")
    return d


def _audio_only(tmp_path: Path) -> Path:
    p = tmp_path / "sound.m4a"
    with av.open(str(p), "w", format="mp4") as c:
        s = c.add_stream("aac", rate=8000)
        s.layout = "mono"
        t = np.arange(8000) / 8000
        a = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        f = av.AudioFrame.from_ndarray(a, format="fltp", layout="mono")
        f.sample_rate = 8000
        for pkt in s.encode(f):
            c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return p


def _mixed_sizes(tmp_path: Path) -> Path:
    d = image_folder(tmp_path, n=3, size=(12, 16))
    write_png(d / "002.png", np.zeros((10, 16, 3), np.uint8))
    return d


def _corrupt_image(tmp_path: Path) -> Path:
    d = image_folder(tmp_path, n=4)
    (d / "002.png").write_bytes(b"garbage, not a png" * 10)
    return d


def _empty_image(tmp_path: Path) -> Path:
    d = image_folder(tmp_path, n=3)
    (d / "001.png").write_bytes(b"")
    return d


def _unreadable_video(tmp_path: Path) -> Path:
    """No moov atom: an mp4 cut before its index was written cannot be opened at all."""
    path = write_video(tmp_path / "cut.mp4", [pattern(i) for i in range(20)], **LOSSLESS)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


BAD_INPUTS = [
    ("missing", lambda t: t / "no_such.mp4", "input not found"),
    ("empty_dir", _empty_dir, "no images"),
    ("zero_bytes", _empty_file, "empty.mp4 is empty (0 bytes)"),
    ("text_as_mp4", _text_mp4, "notes.mp4 is not a video PyAV can read (invalid data found when processing input)"),
    ("audio_only", _audio_only, "sound.m4a has no video stream (streams: audio)"),
    ("mixed_sizes", _mixed_sizes, "image 002.png is 16x10 but 000.png is 16x12"),
    ("corrupt_image", _corrupt_image, "cannot decode image 002.png (frame 2 of 4)"),
    ("empty_image", _empty_image, "cannot decode image 001.png (frame 1 of 3)"),
    ("mp4_cut_no_index", _unreadable_video, "cut.mp4 is an MP4/MOV that cannot be opened: it is truncated"),
]


@pytest.mark.parametrize("make,needle", [b[1:] for b in BAD_INPUTS], ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_one_line_error(tmp_path, make, needle):
    path = make(tmp_path)
    with pytest.raises(EverymaskError) as info:
        open_source(path)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_truncated_mp4_decodes_what_is_readable(tmp_path):
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(30)]
    path = write_video(tmp_path / "cut.mp4", frames, container_options={"movflags": "faststart"},
                       options={"g": "5", "bf": "0"})
    full = sequential_decode(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])
    readable = len(sequential_decode_tolerant(path))
    assert 0 < readable < 30
    with pytest.warns(UserWarning, match=rf"cut.mp4 is damaged or truncated: using the {readable} of 30 frames that decode"):
        src = open_source(path)
    with src:
        assert len(src) == readable
        for i in [readable - 1, 0, readable // 2]:
            np.testing.assert_array_equal(src.frame(i), full[i])
        with pytest.raises(IndexError):
            src.frame(readable)


def sequential_decode_tolerant(path: Path) -> list[np.ndarray]:
    out = []
    with av.open(str(path)) as c:
        try:
            for f in c.decode(video=0):
                out.append(f.to_ndarray(format="rgb24"))
        except av.error.FFmpegError:
            pass
    return out


def test_truncated_image_named_when_read(tmp_path):
    d = image_folder(tmp_path, n=3, size=(64, 64))
    rng = np.random.default_rng(2)
    write_png(d / "001.png", rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = (d / "001.png").read_bytes()
    (d / "001.png").write_bytes(data[: len(data) // 3])  # header intact, pixels cut
    with open_source(d) as src:
        src.frame(0)
        with pytest.raises(EverymaskError, match=r"cannot decode image 001.png \(frame 1 of 3\)"):
            src.frame(1)


def test_pixel_limit_refuses_or_downscales(tmp_path, monkeypatch):
    monkeypatch.setattr(frames_mod, "MAX_PIXELS", 2000)
    path = write_video(tmp_path / "big.mp4", [pattern(i) for i in range(3)], **LOSSLESS)  # 48x64
    with pytest.raises(EverymaskError, match=r"big.mp4: frames are 64x48 .*pass --max-side"):
        open_source(path)
    with open_source(path, max_side=50) as src:
        assert src.size == (38, 50) and src.frame(2).shape == (38, 50, 3)
    d = image_folder(tmp_path, n=2, size=(48, 64))
    with pytest.raises(EverymaskError, match="--max-side"):
        open_source(d)
    assert open_source(d, max_side=32).size == (24, 32)


def test_huge_image_refused_from_header(tmp_path):
    """20000 x 20000 (400 MP): refused before decoding, so the test stays fast and small."""
    d = tmp_path / "huge"
    d.mkdir()
    huge_png_header(d / "0.png", 20000, 20000)
    with pytest.raises(EverymaskError) as info:
        open_source(d)
    assert str(info.value) == (
        "0.png: frames are 20000x20000 (400.0 megapixels), above the 40 megapixel limit; "
        "pass --max-side 4096 (or smaller) to downscale them")


def test_negative_max_side(tmp_path):
    with pytest.raises(EverymaskError, match="--max-side must be 0"):
        open_source(image_folder(tmp_path), max_side=-1)


@pytest.mark.parametrize("name", ["my clips/vidéo 猫 1.mp4", "dossier été/"])
def test_paths_with_spaces_and_non_ascii(tmp_path, name):
    if name.endswith("/"):
        d = tmp_path / name.rstrip("/")
        d.mkdir()
        write_png(d / "ça 1.png", pattern(1, 8, 8)[:, :, ::-1])
        write_png(d / "ça 2.png", pattern(2, 8, 8)[:, :, ::-1])
        with open_source(d) as src:
            np.testing.assert_array_equal(src.frame(1), pattern(2, 8, 8))
        return
    path = tmp_path / name
    path.parent.mkdir()
    write_video(path, [pattern(i) for i in range(5)], **LOSSLESS)
    with open_source(path) as src:
        assert len(src) == 5 and src.path == str(path)
        np.testing.assert_array_equal(src.frame(4), pattern(4))


# -- fingerprint ----------------------------------------------------------------------------------

@pytest.mark.slow  # new Python processes
def test_fingerprint_stable_across_processes_and_sensitive(tmp_path):
    path = write_video(tmp_path / "clip.mp4", [pattern(i) for i in range(10)], **LOSSLESS)
    d = image_folder(tmp_path, n=3)
    code = ("import sys; from everymask.video import open_source; "
            "print(open_source(sys.argv[1]).fingerprint())")
    for p in (path, d):
        here = open_source(p).fingerprint()
        there = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True,
                               text=True, check=True).stdout.strip()
        assert here == there and len(here) == 64
    before = open_source(path).fingerprint()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert open_source(path).fingerprint() != before
    before = open_source(d).fingerprint()
    (d / "001.png").rename(d / "001b.png")
    assert open_source(d).fingerprint() != before
    assert open_source(path, max_side=16).fingerprint() == open_source(path).fingerprint()


def test_stream_without_timestamps_is_numbered_by_decoding(tmp_path):
    """A raw H.264 elementary stream has no pts: frames are counted and reached by decoding."""
    frames = [pattern(i) for i in range(12)]
    path = write_video(tmp_path / "raw.h264", frames, **LOSSLESS)
    ref = sequential_decode(path)
    with open_source(path, cache_frames=3) as src:
        assert len(src) == 12 == len(ref)
        for i in [5, 2, 11, 0, 7]:
            np.testing.assert_array_equal(src.frame(i), ref[i])
            np.testing.assert_array_equal(src.frame(i), frames[i])


TRUNCATED = [
    ("cut.mkv", dict(codec="libx264", options={"g": "5", "bf": "2"}), 0),
    ("cut.webm", dict(codec="libvpx-vp9", options={"g": "6", "deadline": "realtime", "cpu-used": "8"}), 0),
    ("cut.mp4", dict(codec="libx264", options={"g": "5", "bf": "2"},
                     container_options={"movflags": "faststart"}), 0),
    # AVI: ffmpeg turns the half-written last packet into a garbage frame; we drop it
    ("cut.avi", dict(codec="mpeg4", options={"g": "6"}), 1),
]


@pytest.mark.parametrize("fraction", [0.3, 0.8, 0.97])
@pytest.mark.parametrize("name,kw,partial", TRUNCATED, ids=[t[0] for t in TRUNCATED])
def test_truncated_containers(tmp_path, name, kw, partial, fraction):
    """At least what a naive decode loop gets, every frame exact, and a warning with the count.

    We may get more than the naive loop: it stops at the first error and loses the frames still
    buffered in the decoder, while the source skips the bad packet and drains the decoder.
    """
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 255, (32, 48, 3), dtype=np.uint8) for _ in range(30)]
    path = write_video(tmp_path / name, frames, **kw)
    full = sequential_decode(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    naive = max(0, len(sequential_decode_tolerant(path)) - partial)
    if naive == 0:
        with pytest.raises(EverymaskError, match=rf"{name}: no frame of the video stream decodes"):
            open_source(path)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        src = open_source(path)
    with src:
        n = len(src)
        assert naive <= n < 30
        assert [str(w.message) for w in caught] == [
            f"{name} is damaged or truncated: using the {n} of {'about ' if 'webm' in name or 'mkv' in name else ''}"
            f"30 frames that decode"]
        for i in range(n - 1, -1, -1):
            np.testing.assert_array_equal(src.frame(i), full[i])


@pytest.mark.parametrize("name", ["a.png", "a.jpg", "a.bmp", "a.tif", "a.webp"])
def test_image_size_from_the_header(tmp_path, name):
    from everymask.video.image_header import image_size
    cv2.imwrite(str(tmp_path / name), np.zeros((5, 7, 3), np.uint8))
    assert image_size(tmp_path / name) == (7, 5)
    (tmp_path / "notes.png").write_text("not an image")
    assert image_size(tmp_path / "notes.png") is None  # "decode to find out"


def test_odd_sized_tiff_refused_at_open(tmp_path):
    d = tmp_path / "frames"
    d.mkdir()
    cv2.imwrite(str(d / "0.tif"), np.zeros((4, 5, 3), np.uint8))
    cv2.imwrite(str(d / "1.tif"), np.zeros((6, 5, 3), np.uint8))
    with pytest.raises(EverymaskError, match="image 1.tif is 5x6 but 0.tif is 5x4"):
        open_source(d)
