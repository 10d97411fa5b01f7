"""The HTML viewer in a real browser (Playwright driving Debian's chromium, from file://).

Skipped when chromium or playwright is missing, unless EVERYMASK_REQUIRE_BROWSER=1 (as in CI),
where a missing browser is a failure: these are the only tests of the page's JavaScript.
"""
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from everymask.export import export
from everymask.masks import decode_one, rle_from_json

from export_scene import T, make_run

pytestmark = pytest.mark.slow  # starts Chromium

REQUIRE = os.environ.get("EVERYMASK_REQUIRE_BROWSER") == "1"
NASTY = 'clip<script>window.pwned=2<img src=x onerror="window.pwned=1">&\'"'  # no "/": it is one folder name
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def _browser_or_skip():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    missing = "playwright is not installed" if sync_playwright is None else None if exe else "no chromium on PATH"
    if missing:
        if REQUIRE:
            pytest.fail(f"{missing}, and EVERYMASK_REQUIRE_BROWSER=1 asks for the browser tests")
        pytest.skip(missing)
    return sync_playwright, exe


@pytest.fixture(scope="module", autouse=True)
def browser_tools():
    """Checked first (autouse), so a missing browser skips before any run is made."""
    return _browser_or_skip()


@pytest.fixture(scope="module")
def viewer(tmp_path_factory):
    """A run whose input is 80 x 107 and processing size 48 x 64 (a scale of 5/3 and 107/64, so the
    page's input -> mask pixel mapping is tested off the easy integer ratios) and its viewer."""
    tmp = tmp_path_factory.mktemp("viewer")
    run = make_run(tmp, name=NASTY, frames_size=(80, 107))
    assert run.input_size == (80, 107)
    index = export(run, "viewer", chunk_frames=5)  # 3 chunks: loading across chunk borders
    yield run, index
    run.close()


@pytest.fixture(scope="module")
def page(browser_tools, viewer):
    sync_playwright, exe = browser_tools
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        # bypass_csp: Playwright polls with eval(), which the page's CSP forbids; it also means the
        # escaping test below checks the textContent discipline, not the CSP
        pg = browser.new_page(viewport={"width": 1200, "height": 800}, bypass_csp=True)
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.goto(viewer[1].resolve().as_uri())
        pg.evaluate("window.everymask.ready")
        pg.errors = errors
        yield pg
        browser.close()


def test_masks_at_agrees_with_tracks_json(viewer, page):
    run, _ = viewer
    entries = json.loads((run.dir / "tracks.json").read_text())
    H, W = run.input_size
    dense = {e["track_id"]: [None if s is None else decode_one(rle_from_json(s)) for s in e["segmentations"]]
             for e in entries}
    rng = np.random.default_rng(0)
    pts = [(int(t), int(x), int(y)) for t, x, y in zip(rng.integers(0, T, 600), rng.integers(0, W, 600),
                                                       rng.integers(0, H, 600))]
    got = page.evaluate("pts => Promise.all(pts.map(([t, x, y]) => window.everymask.masksAt(t, x, y)))", pts)
    for (t, x, y), ids in zip(pts, got):
        want = {tid for tid, segs in dense.items() if segs[t] is not None and segs[t][y, x]}
        assert set(ids) == want, (t, x, y)
    assert sum(len(ids) > 1 for ids in got) > 20  # the points did hit overlapping masks
    assert page.errors == []


def test_click_lists_masks_smallest_first_with_parent_chain(viewer, page):
    run, _ = viewer
    H, W = run.input_size
    page.evaluate("window.everymask.setFrame(4)")
    x, y = math.ceil(16 * W / 64), math.ceil(12 * H / 48)  # the input pixel of mask pixel (16, 12):
    assert (int(x * (1 / (W / 64))), int(y * (1 / (H / 48)))) == (16, 12)  # inside 3, inside 2, inside 1
    box = page.locator("#view").bounding_box()
    page.mouse.click(box["x"] + (x + 0.5) * box["width"] / W, box["y"] + (y + 0.5) * box["height"] / H)
    page.wait_for_function("document.querySelectorAll('#hits li').length > 0")
    items = page.locator("#hits li")
    assert [items.nth(i).get_attribute("data-track-id") for i in range(items.count())] == ["3", "2", "1"]
    assert "part of #2 ⊂ #1" in items.nth(0).inner_text()
    assert page.evaluate(f"window.everymask.masksAt(4, {x}, {y})") == [3, 2, 1]
    items.nth(1).click()  # select track 2: the selection panel shows it, only it is drawn
    assert page.locator("#selection-title").inner_text() == "Track #2"
    assert "1 masks" in page.locator("#frame-label").inner_text()
    page.keyboard.press("Escape")
    page.wait_for_function("document.getElementById('selection').hidden")


def test_slider_and_keys_change_the_frame(page):
    page.locator("#slider").fill("7")
    page.wait_for_function("window.everymask.shownFrame === 7")
    assert page.locator("#frame-label").inner_text().startswith("frame 7 /")
    page.locator("body").press("ArrowRight")
    page.wait_for_function("window.everymask.shownFrame === 8")
    page.locator("body").press("ArrowLeft")
    page.wait_for_function("window.everymask.shownFrame === 7")
    page.keyboard.press(" ")  # play to the last frame, where playback stops
    page.wait_for_function(f"window.everymask.shownFrame === {T - 1}")
    page.wait_for_function("document.getElementById('play').textContent === 'Play'")


def test_filters_hide_parts(page):
    page.evaluate("window.everymask.setFrame(4)")
    page.select_option("#depth", "0")
    page.wait_for_function("document.getElementById('frame-label').textContent.endsWith(' 2 masks')")
    page.select_option("#depth", "all")
    page.wait_for_function("document.getElementById('frame-label').textContent.endsWith(' 4 masks')")


def test_input_strings_are_not_html(viewer, page):
    assert page.evaluate("window.pwned") is None
    assert page.locator("#title").inner_text() == Path(viewer[0].source).name
    assert NASTY in page.title()


def _set_opacity(page, value: str) -> None:
    page.evaluate("""async value => {
        const o = document.getElementById('opacity');
        o.value = value;
        o.dispatchEvent(new Event('input'));
        await window.everymask.setFrame(5);
    }""", value)


def test_screenshot_shows_a_mask_in_its_colour_over_the_frame(viewer, page, tmp_path):
    """Frame 5: inside track 3 (the smallest of 3 in 2 in 1, so drawn on top) the picture is track 3's
    colour at opacity 0.5 over the frame; the same pixel at opacity 0 is the frame alone."""
    import cv2

    from everymask.export.render import track_colour
    page.mouse.move(1, 1)  # off the pixel panel: no hovered entry drawn over the masks
    page.evaluate("window.everymask.setFrame(5)")
    full = cv2.imdecode(np.frombuffer(page.screenshot(path=str(tmp_path / "viewer.png"), full_page=True), np.uint8),
                        cv2.IMREAD_COLOR)
    assert full.shape[1] == 1200  # the viewport's width: a real picture of the page

    def pixel() -> np.ndarray:  # the screenshot of the canvas at the centre of mask pixel (17, 12)
        shot = cv2.imdecode(np.frombuffer(page.locator("#view").screenshot(), np.uint8), cv2.IMREAD_COLOR)
        h, w = shot.shape[:2]
        return shot[int(12.5 / 48 * h), int(17.5 / 64 * w), ::-1].astype(float)  # track 3: rows 10-14, cols 15-19

    masked = pixel()
    _set_opacity(page, "0")
    plain = pixel()
    _set_opacity(page, "0.5")
    expected = 128 / 255 * np.array(track_colour(3)) + 127 / 255 * plain
    assert np.abs(masked - expected).max() <= 4, (masked, expected, plain)
    assert np.abs(masked - plain).max() >= 30
    assert page.errors == []


def test_the_page_works_under_its_own_csp(viewer, page):
    """The CSP (scripts from files only) must not block the page's own loading of chunks and frames."""
    strict = page.context.browser.new_page()
    errors: list[str] = []
    strict.on("pageerror", lambda e: errors.append(str(e)))
    strict.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    strict.goto(viewer[1].resolve().as_uri())
    strict.evaluate("window.everymask.ready")
    assert strict.evaluate("window.everymask.setFrame(11).then(() => window.everymask.shownFrame)") == 11
    assert strict.evaluate("window.everymask.masksAt(11, 0, 0)") == [] and errors == []
    strict.close()


@pytest.fixture()
def one_frame_chunks(viewer, page, tmp_path):
    """A fresh page (in the module's browser) on a copy of the viewer with one frame per chunk (12
    chunks: more than the page's LRU of 8), whose chunk scripts the test holds back and releases."""
    index = export(viewer[0], "viewer", tmp_path / "viewer", chunk_frames=1)
    pg = page.context.browser.new_page(bypass_csp=True)
    pg.goto(index.resolve().as_uri())
    pg.evaluate("window.everymask.ready")
    pg.evaluate("""() => {
        const append = document.head.appendChild.bind(document.head);
        window.held = [];
        window.holding = false;
        document.head.appendChild = s => (window.holding && s.src && s.src.includes('/chunk_')
                                          ? (window.held.push(s), s) : append(s));
        window.release = () => { window.holding = false; window.held.splice(0).forEach(s => append(s)); };
    }""")
    yield pg, index
    pg.close()


# what settles within 3 s: the ids, or "hung" for a promise that never settles
SETTLED = "(p, ms = 3000) => Promise.race([p, new Promise(r => setTimeout(() => r('hung'), ms))])"


def test_a_chunk_evicted_while_loading_and_asked_again_resolves_every_request(viewer, one_frame_chunks):
    """Fast scrubbing: chunk 11 is asked for, pushed out of the LRU by 8 others before its script ran,
    then asked for again; both requests must get its masks."""
    page, _ = one_frame_chunks
    run, _ = viewer
    H, W = run.input_size
    x, y = math.ceil(5 * W / 64), math.ceil(40 * H / 48)  # mask pixel (5, 40): inside track 5 only
    got = page.evaluate("""async ([settled, x, y]) => {
        settled = eval(settled);
        const em = window.everymask;
        window.holding = true;
        const first = em.masksAt(11, x, y);
        const others = [0, 1, 2, 3, 4, 5, 6, 7].map(t => em.masksAt(t, x, y));  // 8 more chunks
        const again = em.masksAt(11, x, y);
        window.release();
        return [await settled(first), await settled(again), (await Promise.all(others.map(p => settled(p))))];
    }""", [SETTLED, x, y])
    assert got == [[5], [5], [[], [], [], [], [], [], [5], [5]]]


def test_a_frame_image_that_failed_to_load_is_loaded_again(one_frame_chunks):
    """A frame image missing once (a viewer still being copied, a flaky disk) must not stay broken."""
    page, index = one_frame_chunks
    jpeg = index.parent / "frames" / "00009.jpg"  # not loaded yet: the page prefetched frames 1-3 only
    hidden = jpeg.with_name("hidden.jpg")
    jpeg.rename(hidden)
    page.evaluate("window.everymask.setFrame(9)")
    assert page.locator("#frame-label").inner_text().startswith("frame 9: ")  # the error, not the frame
    assert page.evaluate("window.everymask.shownFrame") == 0
    hidden.rename(jpeg)
    page.evaluate("window.everymask.setFrame(9)")
    assert page.evaluate("window.everymask.shownFrame") == 9
    assert page.locator("#frame-label").inner_text().startswith("frame 9 / 11 · ")
