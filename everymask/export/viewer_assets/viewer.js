/* everymask viewer. Plain JS, no network: data arrives as <script> files (file:// forbids fetch).
 * Masks are pycocotools compressed RLEs (column-major runs) at the processing size MW x MH, decoded
 * here; input pixels map to mask pixels as OpenCV's INTER_NEAREST resize does (as in tracks.json).
 * Every string from the run is shown with textContent, never parsed as HTML. */
(function () {
  'use strict';
  const meta = window.everymaskMeta;
  const H = meta.input_size[0], W = meta.input_size[1], N = meta.num_frames, C = meta.chunk_frames;
  const MH = meta.mask_size[0], MW = meta.mask_size[1], AREA = (W * H) / (MW * MH);
  const FX = 1 / (W / MW), FY = 1 / (H / MH);  // the same doubles as OpenCV's resizeNN
  const maskX = x => Math.min(Math.floor(x * FX), MW - 1), maskY = y => Math.min(Math.floor(y * FY), MH - 1);
  const maskIndex = (x, y) => maskX(x) * MH + maskY(y);
  const tracks = new Map(meta.tracks.map(t => [t.id, t]));
  const $ = id => document.getElementById(id);
  const state = { frame: 0, playing: false, opacity: 0.5, outlines: true, minLength: 1, minArea: 0,
                  maxDepth: Infinity, selected: null, hovered: null, pick: null };
  const em = window.everymask = { meta, shownFrame: -1 };

  // ---- RLE: the inverse of pycocotools' rleToString (maskApi.c) --------------------------------
  function decodeCounts(s) {
    const cnts = [];
    let p = 0;
    while (p < s.length) {
      let x = 0, k = 0, more = 1;
      while (more) {
        const c = s.charCodeAt(p) - 48;
        x |= (c & 0x1f) << (5 * k);
        more = c & 0x20; p++; k++;
        if (!more && (c & 0x10)) x -= Math.pow(2, 5 * k);  // sign bit: a negative delta
      }
      if (cnts.length > 2) x += cnts[cnts.length - 2];
      cnts.push(x);
    }
    return Uint32Array.from(cnts);  // alternating runs of 0s and 1s, column-major
  }
  const runsOf = m => m.runs || (m.runs = decodeCounts(m.counts));

  function covers(runs, idx) {
    let pos = 0;
    for (let j = 0; j < runs.length; j++) {
      pos += runs[j];
      if (idx < pos) return (j & 1) === 1;
    }
    return false;
  }

  // calls fn(x, y0, y1) for each vertical segment of the mask (column x, rows y0..y1-1)
  function forEachSegment(runs, fn) {
    let pos = 0;
    for (let j = 0; j < runs.length; j++) {
      if (j & 1) {
        const end = pos + runs[j];
        for (let p = pos; p < end;) {
          const x = Math.floor(p / MH), y = p - x * MH, y1 = Math.min(MH, y + end - p);
          fn(x, y, y1);
          p += y1 - y;
        }
      }
      pos += runs[j];
    }
  }

  // ---- data loading: chunks of masks and JPEG frames, on demand, with small LRU caches ----------
  // A chunk's script calls em._chunk(k, frames) when it runs. `loading` holds each chunk whose script
  // is on its way, outside the LRU, so a chunk evicted and asked for again while loading (fast
  // scrubbing) shares that one request instead of starting a second that would leave the first
  // promise unresolved. A failed load (chunk or image) leaves the caches, so it is tried again.
  const chunks = new Map(), loading = new Map(), images = new Map();
  em._chunk = (k, frames) => {
    const waiting = loading.get(k);
    loading.delete(k);
    if (waiting) waiting.resolve(frames.map(f => f.map(([id, area, counts]) => ({ id, area, counts, runs: null }))));
  };
  function cached(map, key, limit, make) {
    let v = map.get(key);
    if (v) map.delete(key); else v = make();
    map.set(key, v);
    while (map.size > limit) map.delete(map.keys().next().value);
    return v;
  }
  function forgetIfFailed(map, key, promise) {
    promise.catch(() => { if (map.get(key) === promise) map.delete(key); });
    return promise;
  }
  function requestChunk(k) {
    if (loading.has(k)) return loading.get(k).promise;
    const waiting = {};
    waiting.promise = new Promise((resolve, reject) => { waiting.resolve = resolve; waiting.reject = reject; });
    loading.set(k, waiting);
    const s = document.createElement('script');
    s.src = 'data/chunk_' + String(k).padStart(5, '0') + '.js';
    const fail = why => {
      s.remove();
      if (loading.get(k) === waiting) { loading.delete(k); waiting.reject(new Error(why + s.src)); }
    };
    s.onload = () => fail('no masks in ');  // a no-op when the script called em._chunk as it ran
    s.onerror = () => fail('cannot load ');
    document.head.appendChild(s);
    return waiting.promise;
  }
  const loadChunk = k => cached(chunks, k, 8, () => forgetIfFailed(chunks, k, requestChunk(k)));
  const frameMasks = t => loadChunk(Math.floor(t / C)).then(frames => frames[t % C]);
  function frameImage(t) {
    return cached(images, t, 24, () => {
      const img = new Image();
      img.src = 'frames/' + String(t).padStart(5, '0') + '.jpg';
      return forgetIfFailed(images, t, img.decode().then(() => img));
    });
  }

  // ---- colours: the same formula as everymask/export/render.py track_colour ---------------------
  function colour(id) {
    const h = (id * 0.618033988749895) % 1, s = 0.75, v = 0.95;
    const i = Math.floor(h * 6), f = h * 6 - i, p = v * (1 - s), q = v * (1 - s * f), u = v * (1 - s * (1 - f));
    const rgb = [[v, u, p], [q, v, p], [p, v, u], [p, q, v], [u, p, v], [v, p, q]][i % 6];
    return rgb.map(c => Math.floor(c * 255));
  }
  const css = id => 'rgb(' + colour(id).join(',') + ')';

  // ---- filters and hierarchy -------------------------------------------------------------------
  const passes = id => {
    const t = tracks.get(id);
    return t.n >= state.minLength && t.area >= state.minArea && t.depth <= state.maxDepth;
  };
  const shown = id => state.selected !== null ? id === state.selected : passes(id);
  function chain(id) {
    const out = [];
    for (let p = tracks.get(id).parent, guard = 0; p !== null && guard < 64; p = tracks.get(p).parent, guard++) {
      out.push('#' + p);
    }
    return out.length ? 'part of ' + out.join(' ⊂ ') : 'whole';
  }

  // ---- drawing ---------------------------------------------------------------------------------
  // the picture: the larger of the JPEG frames and the mask grid, so neither loses detail
  const view = $('view'), ctx = view.getContext('2d');
  const big = meta.frame_size[1] >= MW ? meta.frame_size : meta.mask_size, DH = big[0], DW = big[1];
  view.width = DW; view.height = DH;
  const layer = document.createElement('canvas');
  layer.width = MW; layer.height = MH;
  const lctx = layer.getContext('2d'), pixels = lctx.createImageData(MW, MH), top = new Int32Array(MW * MH);
  let token = 0;

  function paint(masks) {
    top.fill(0);
    for (let m = masks.length - 1; m >= 0; m--) {  // masks come smallest first: paint largest first
      if (!shown(masks[m].id)) continue;
      const label = m + 1;
      forEachSegment(runsOf(masks[m]), (x, y0, y1) => { for (let y = y0; y < y1; y++) top[y * MW + x] = label; });
    }
    const d = pixels.data, a = Math.round(state.opacity * 255), rgb = masks.map(m => colour(m.id));
    for (let p = 0, o = 0; p < MW * MH; p++, o += 4) {
      const l = top[p];
      if (l === 0) { d[o + 3] = 0; continue; }
      const c = rgb[l - 1];
      d[o] = c[0]; d[o + 1] = c[1]; d[o + 2] = c[2]; d[o + 3] = a;
    }
    if (state.outlines) {
      const mark = p => { const l = top[p]; if (l) { const c = rgb[l - 1], o = 4 * p; d[o] = c[0]; d[o + 1] = c[1]; d[o + 2] = c[2]; d[o + 3] = 255; } };
      for (let y = 0; y < MH; y++) {
        for (let x = 0, p = y * MW; x < MW; x++, p++) {
          if (x + 1 < MW && top[p] !== top[p + 1]) { mark(p); mark(p + 1); }
          if (y + 1 < MH && top[p] !== top[p + MW]) { mark(p); mark(p + MW); }
        }
      }
    }
    const hovered = masks.find(m => m.id === state.hovered);
    if (hovered) {  // the hovered entry: drawn on top, bright
      forEachSegment(runsOf(hovered), (x, y0, y1) => {
        for (let y = y0; y < y1; y++) { const o = 4 * (y * MW + x); d[o] = 255; d[o + 1] = 255; d[o + 2] = 255; d[o + 3] = 200; }
      });
    }
    lctx.putImageData(pixels, 0, 0);
  }

  // refreshList: false for hover changes, so the list under the mouse is not rebuilt under it
  async function render(refreshList = true) {
    const my = ++token, t = state.frame;
    let img, masks;
    try {
      [img, masks] = await Promise.all([frameImage(t), frameMasks(t)]);
    } catch (e) {
      if (my === token) $('frame-label').textContent = 'frame ' + t + ': ' + e.message;
      return;
    }
    if (my !== token) return;
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(img, 0, 0, DW, DH);
    paint(masks);
    ctx.imageSmoothingEnabled = false;  // mask edges stay crisp
    ctx.drawImage(layer, 0, 0, DW, DH);
    if (state.pick) {  // a ring around the picked pixel
      ctx.strokeStyle = '#fff'; ctx.lineWidth = Math.max(1.5, DW / 600);
      ctx.beginPath();
      ctx.arc((state.pick.x + 0.5) * DW / W, (state.pick.y + 0.5) * DH / H, Math.max(5, DW / 150), 0, 2 * Math.PI);
      ctx.stroke();
    }
    $('slider').value = String(t);
    $('frame-label').textContent = 'frame ' + t + ' / ' + (N - 1) + ' · ' + masks.filter(m => shown(m.id)).length + ' masks';
    drawTimeline();
    if (state.pick && refreshList) await showPick(masks);
    em.shownFrame = t;
  }

  function drawTimeline() {
    const tl = $('timeline'), w = tl.width = tl.clientWidth || 600, h = tl.height, c = tl.getContext('2d');
    c.clearRect(0, 0, w, h);
    const x = f => f / Math.max(N, 1) * w;
    if (state.selected !== null) {
      c.fillStyle = css(state.selected);
      for (const [a, b] of tracks.get(state.selected).spans) c.fillRect(x(a), 3, Math.max(x(b + 1) - x(a), 1), h - 6);
    }
    c.fillStyle = '#fff';
    c.fillRect(x(state.frame), 0, 2, h);
  }

  // ---- the pixel panel ---------------------------------------------------------------------------
  async function showPick(masks) {
    const { x, y } = state.pick, t = state.frame;
    masks = masks || await frameMasks(t);
    const hits = masks.filter(m => covers(runsOf(m), maskIndex(x, y)));  // already smallest first
    const ul = $('hits');
    ul.replaceChildren(...hits.map(m => entry(m)));
    $('pick-title').textContent = 'frame ' + t + ', pixel (' + x + ', ' + y + '): ' + hits.length + ' mask' + (hits.length === 1 ? '' : 's');
  }

  function entry(m) {
    const t = tracks.get(m.id), li = document.createElement('li');
    li.dataset.trackId = String(m.id);
    if (!passes(m.id)) li.classList.add('filtered');
    if (state.selected === m.id) li.classList.add('selected');
    const sw = document.createElement('span');
    sw.className = 'swatch'; sw.style.background = css(m.id);
    const id = document.createElement('span');
    id.className = 'tid'; id.textContent = '#' + m.id;
    const info = document.createElement('span');
    info.textContent = (AREA === 1 ? '' : '≈') + Math.round(m.area * AREA) + ' px · frames ' + t.first + '–' + t.last + ' ';
    const ch = document.createElement('span');
    ch.className = 'chain'; ch.textContent = chain(m.id);
    info.appendChild(ch);
    li.append(sw, id, info);
    li.addEventListener('mouseenter', () => { state.hovered = m.id; render(false); });
    li.addEventListener('mouseleave', () => { state.hovered = null; render(false); });
    li.addEventListener('click', () => {
      state.hovered = null;  // the list is rebuilt: this entry will not see its mouseleave
      select(state.selected === m.id ? null : m.id);
    });
    return li;
  }

  function select(id) {
    state.selected = id;
    $('selection').hidden = id === null;
    if (id !== null) {
      const t = tracks.get(id);
      $('selection-title').textContent = 'Track #' + id;
      $('selection-info').textContent = 'frames ' + t.first + '–' + t.last + ' (' + t.n + ' frames) · mean area ' +
        Math.round(t.area) + ' px · depth ' + t.depth + ' · ' + chain(id) + ' · score ' + t.score;
    }
    return render();
  }

  // ---- controls ----------------------------------------------------------------------------------
  function show(t) {
    state.frame = Math.max(0, Math.min(N - 1, t | 0));
    for (let k = 1; k <= 3 && state.frame + k < N; k++) frameImage(state.frame + k);  // prefetch
    if (state.frame + C < N) loadChunk(Math.floor(state.frame / C) + 1);
    return render();
  }
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  async function play(on) {
    state.playing = on;
    $('play').textContent = on ? 'Pause' : 'Play';
    while (state.playing) {
      const started = performance.now();
      if (state.frame >= N - 1) { play(false); break; }
      await show(state.frame + 1);
      await sleep(Math.max(0, 1000 / (meta.fps || 25) - (performance.now() - started)));
    }
  }

  function wire() {
    $('slider').max = String(Math.max(N - 1, 0));
    $('slider').addEventListener('input', e => show(Number(e.target.value)));
    $('play').addEventListener('click', () => play(!state.playing));
    $('opacity').addEventListener('input', e => { state.opacity = Number(e.target.value); render(); });
    $('outlines').addEventListener('change', e => { state.outlines = e.target.checked; render(); });
    $('min-length').addEventListener('input', e => { state.minLength = Number(e.target.value) || 0; render(); });
    $('min-area').addEventListener('input', e => { state.minArea = Number(e.target.value) || 0; render(); });
    const depth = $('depth');
    depth.append(new Option('parts too (all depths)', 'all'), new Option('wholes only', '0'));
    for (let k = 1; k < meta.max_depth; k++) depth.append(new Option('depth ≤ ' + k, String(k)));
    depth.addEventListener('change', e => { state.maxDepth = e.target.value === 'all' ? Infinity : Number(e.target.value); render(); });
    $('clear').addEventListener('click', () => select(null));
    view.addEventListener('click', e => {
      const r = view.getBoundingClientRect();
      const x = Math.min(W - 1, Math.floor((e.clientX - r.left) / r.width * W));
      const y = Math.min(H - 1, Math.floor((e.clientY - r.top) / r.height * H));
      state.pick = { x, y };
      render();
    });
    $('timeline').addEventListener('click', e => {
      const r = e.target.getBoundingClientRect();
      show(Math.floor((e.clientX - r.left) / r.width * N));
    });
    document.addEventListener('keydown', e => {
      if (e.target.tagName === 'INPUT' && e.target.type !== 'range' && e.target.type !== 'checkbox') return;
      if (e.key === ' ') { e.preventDefault(); play(!state.playing); }
      else if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
        e.preventDefault();
        show(state.frame + (e.key === 'ArrowRight' ? 1 : -1) * (e.shiftKey ? 10 : 1));
      } else if (e.key === 'Escape') select(null);
    });
    window.addEventListener('resize', drawTimeline);
    $('title').textContent = meta.title;
    $('info').textContent = N + ' frames · ' + W + '×' + H + ' · ' + Number(meta.fps).toFixed(2) + ' fps · ' +
      meta.tracks.length + ' tracks · max depth ' + meta.max_depth;
    $('run-info').textContent = JSON.stringify({ source: meta.source, summary: meta.summary, config: meta.config }, null, 1);
  }

  // ---- the testable contract -----------------------------------------------------------------------
  /** Track ids covering input-resolution pixel (x, y) of `frame` (integers), smallest mask first
   *  (filters ignored): what tracks.json says of that pixel. */
  em.masksAt = async (frame, x, y) => {
    if (!(frame >= 0 && frame < N && x >= 0 && x < W && y >= 0 && y < H)) return [];
    const masks = await frameMasks(frame);
    return masks.filter(m => covers(runsOf(m), maskIndex(x, y))).map(m => m.id);
  };
  em.setFrame = show;
  em.select = select;
  wire();
  em.ready = N > 0 ? show(0) : Promise.resolve();
})();
