// The timeline's and the report's page: lanes of per-frame values on one time axis, drawn on a
// canvas from the JSON blob in #data. No library, no request: it works from file://.
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("data").textContent);
  const N = D.frames, FPS = D.fps, DURATION = D.duration;
  const LABEL_W = 150, AXIS_H = 22;
  const COLORS = ["#f2a03d", "#5ab4f0", "#8fd16a", "#e0607e", "#b28cf0", "#50d0c0", "#f0d060", "#f08a5a"];
  const plot = document.getElementById("plot"), overlay = document.getElementById("overlay");
  const ctx = plot.getContext("2d"), octx = overlay.getContext("2d");
  const player = document.getElementById("player");

  // --- the lanes ---------------------------------------------------------------------------
  const lanes = [];
  if (D.waveform && D.waveform.max.length) lanes.push({ key: "waveform", kind: "wave", height: 70 });
  if (D.audio) {
    for (const k of Object.keys(D.envelopes)) {
      lanes.push({ key: k, kind: "line", values: D.envelopes[k], height: 44, lo: 0, hi: 1 });
    }
  }
  const report = D.report ? D.report.frames : null;
  if (report) {
    for (const [k, unit] of [["strength", ""], ["flicker", ""], ["sharpness", "x"], ["seconds", " s"]]) {
      if (report[k]) lanes.push({ key: "report." + k, label: k, kind: "line", values: report[k], height: 52, unit });
    }
  }
  // Which frames are dreamed (video.cadence, zoom.cadence): the render's own record when there is
  // one, else the plan. Drawn only when some frame is carried without a dream.
  const dreamed = report && report.dreamed ? report.dreamed : D.dreamed;
  if (dreamed && dreamed.some((x) => x === false)) {
    lanes.push({ key: "dreamed", label: "dreamed 1, carried 0", kind: "line", values: dreamed.map((x) => (x === false ? 0 : 1)),
                 height: 30, lo: 0, hi: 1 });
  }
  for (const [k, s] of Object.entries(D.schedules || {})) {
    lanes.push({ key: k, kind: "line", values: s.values, keyframes: s.keyframes, height: 52, source: s.source });
  }
  if ((D.cuts || []).length || (D.segments || []).length > 1 || (report && report.fresh)) {
    lanes.push({ key: "events", label: "cuts, segments", kind: "events", height: 30 });
  }
  if (D.previews && D.previews.length) lanes.push({ key: "filmstrip", kind: "film", height: 74 });
  let y = AXIS_H;
  lanes.forEach((lane, i) => {
    lane.y = y; y += lane.height + 4; lane.color = COLORS[i % COLORS.length];
    if (lane.kind === "line") {
      let lo = lane.lo, hi = lane.hi;
      if (lo === undefined) {
        lo = Infinity; hi = -Infinity;
        for (const v of lane.values) if (v !== null) { if (v < lo) lo = v; if (v > hi) hi = v; }
        if (!isFinite(lo)) { lo = 0; hi = 1; }
        if (hi - lo < 1e-12) { const c = lo; lo = c - 0.5 * (Math.abs(c) || 1); hi = c + 0.5 * (Math.abs(c) || 1); }
      }
      lane.lo = lo; lane.hi = hi;
    }
  });
  const TOTAL_H = y;
  const thumbs = (D.previews || []).map((p) => { const im = new Image(); im.src = p.thumb; im.onload = () => draw(); return { p, im }; });

  // --- the view: seconds t0..t1 across the plot's width --------------------------------------
  const view = { t0: 0, t1: Math.max(DURATION, 1 / FPS), unit: "s", cursor: null };
  let width = 0, dpr = 1;
  const plotW = () => width - LABEL_W;
  const xOf = (t) => LABEL_W + ((t - view.t0) / (view.t1 - view.t0)) * plotW();
  const tOf = (x) => view.t0 + ((x - LABEL_W) / plotW()) * (view.t1 - view.t0);
  const frameOf = (t) => Math.max(0, Math.min(N - 1, Math.floor(t * FPS + 1e-9)));

  function resize() {
    dpr = window.devicePixelRatio || 1;
    width = Math.max(400, plot.parentElement.clientWidth);
    for (const c of [plot, overlay]) {
      c.width = Math.round(width * dpr); c.height = Math.round(TOTAL_H * dpr);
      c.style.width = width + "px"; c.style.height = TOTAL_H + "px";
    }
    draw();
  }

  function beatOfTime(t) {  // beats as a continuous unit: 1 at the first beat, 2 at the second, ...
    const b = D.beats;
    if (!b.length) return null;
    let i = 0, j = b.length - 1;
    if (t <= b[0]) return 1 + (t - b[0]) / ((b[1] - b[0]) || 0.5);
    if (t >= b[j]) return j + 1 + (t - b[j]) / ((b[j] - b[j - 1]) || 0.5);
    while (j - i > 1) { const m = (i + j) >> 1; if (b[m] <= t) i = m; else j = m; }
    return i + 1 + (t - b[i]) / (b[j] - b[i]);
  }

  function ticks() {  // [time, label] pairs for the axis in the chosen unit
    const span = view.t1 - view.t0, want = plotW() / 90, out = [];
    if (view.unit === "b" && D.beats.length) {
      const step = niceStep((D.beats.length / DURATION) * span / want, true);
      for (let k = 0; k < D.beats.length; k += step) {
        const t = D.beats[k];
        if (t >= view.t0 && t <= view.t1) out.push([t, "" + (k + 1)]);
      }
      return out;
    }
    const perUnit = view.unit === "f" ? FPS : 1;
    const step = niceStep(span * perUnit / want, view.unit === "f");
    for (let v = Math.ceil(view.t0 * perUnit / step) * step; v <= view.t1 * perUnit; v += step) {
      out.push([v / perUnit, view.unit === "f" ? "" + Math.round(v) : fmtTime(v)]);
    }
    return out;
  }

  function niceStep(raw, whole) {
    const p = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1e-9))));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return whole ? Math.max(1, Math.round(m * p)) : m * p;
    return 10 * p;
  }

  function fmtTime(s) {
    const m = Math.floor(s / 60), r = s - 60 * m;
    return m ? m + ":" + (r < 10 ? "0" : "") + r.toFixed(r % 1 ? 2 : 0) : (s % 1 ? s.toFixed(2) : s.toFixed(0));
  }

  function fmt(v) {
    if (v === null || v === undefined) return "-";
    if (typeof v !== "number") return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : String(+v.toPrecision(5));
  }

  // --- drawing -----------------------------------------------------------------------------
  function draw() {
    if (!width) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, TOTAL_H);
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    const tk = ticks();
    ctx.fillStyle = "#8d8a86";
    for (const [t, label] of tk) {
      const x = xOf(t);
      ctx.fillRect(x, AXIS_H - 6, 1, 6);
      ctx.fillText(label, x + 3, AXIS_H / 2);
    }
    for (const lane of lanes) {
      ctx.fillStyle = "#1f1f25";
      ctx.fillRect(LABEL_W, lane.y, plotW(), lane.height);
      ctx.fillStyle = "#2c2c34";
      for (const [t] of tk) ctx.fillRect(xOf(t), lane.y, 1, lane.height);
      ctx.save();
      ctx.beginPath(); ctx.rect(LABEL_W, lane.y, plotW(), lane.height); ctx.clip();
      if (lane.kind === "wave") drawWave(lane);
      else if (lane.kind === "line") drawLine(lane);
      else if (lane.kind === "events") drawEvents(lane);
      else if (lane.kind === "film") drawFilm(lane);
      ctx.restore();
      ctx.fillStyle = "#e8e6e3";
      ctx.fillText(shorten(lane.label || lane.key, 22), 6, lane.y + 10);
      if (lane.kind === "line") {
        ctx.fillStyle = "#8d8a86";
        ctx.fillText(fmt(lane.hi), 6, lane.y + 24);
        ctx.fillText(fmt(lane.lo), 6, lane.y + lane.height - 6);
      }
    }
    drawOverlay();
  }

  function shorten(s, n) { return s.length > n ? "\u2026" + s.slice(s.length - n + 1) : s; }

  function markers(times, color, y0, h) {
    const shown = times.filter((t) => t >= view.t0 && t <= view.t1);
    if (shown.length > plotW() / 4) return;  // denser than a marker every 4 px: they would hide the lane
    ctx.fillStyle = color;
    for (const t of shown) ctx.fillRect(Math.round(xOf(t)), y0, 1, h);
  }

  function barNumbers(lane) {  // each bar line's number, where there is room for it
    const bars = D.bars || [];
    const shown = bars.filter((t) => t >= view.t0 && t <= view.t1);
    if (!shown.length || shown.length > plotW() / 24) return;
    ctx.fillStyle = "rgba(255,236,200,0.95)";
    ctx.font = "10px sans-serif";
    for (const t of shown) ctx.fillText(String(bars.indexOf(t) + 1), Math.round(xOf(t)) + 2, lane.y + 10);
  }

  function drawWave(lane) {
    const w = D.waveform, mid = lane.y + lane.height / 2, amp = lane.height / 2 - 2;
    markers(D.beats, "rgba(242,160,61,0.55)", lane.y, lane.height);
    markers(D.bars || [], "rgba(255,236,200,0.95)", lane.y, lane.height);
    barNumbers(lane);
    markers(D.onsets, "rgba(90,180,240,0.8)", lane.y + lane.height - 8, 8);
    ctx.fillStyle = "#6f8fb0";
    const i0 = Math.max(0, Math.floor(view.t0 * w.rate)), i1 = Math.min(w.max.length, Math.ceil(view.t1 * w.rate));
    const per = (i1 - i0) / plotW();
    for (let px = 0; px < plotW(); px++) {
      const a = i0 + Math.floor(px * per), b = Math.max(a + 1, i0 + Math.floor((px + 1) * per));
      let lo = 0, hi = 0;
      for (let i = a; i < b && i < i1; i++) { if (w.min[i] < lo) lo = w.min[i]; if (w.max[i] > hi) hi = w.max[i]; }
      if (per < 1) {  // zoomed in past one bucket a pixel: the bucket under this pixel
        const i = Math.floor(tOf(LABEL_W + px) * w.rate);
        if (i < 0 || i >= w.max.length) continue;
        lo = w.min[i]; hi = w.max[i];
      }
      ctx.fillRect(LABEL_W + px, mid - hi * amp, 1, Math.max(1, (hi - lo) * amp));
    }
  }

  function drawLine(lane) {
    const v = lane.values, yOf = (x) => lane.y + lane.height - 3 - ((x - lane.lo) / (lane.hi - lane.lo)) * (lane.height - 6);
    const f0 = Math.max(0, Math.floor(view.t0 * FPS)), f1 = Math.min(N - 1, Math.ceil(view.t1 * FPS));
    ctx.strokeStyle = lane.color; ctx.lineWidth = 1.2;
    ctx.beginPath();
    if ((f1 - f0) > plotW() * 2) {
      // More frames than pixels: each pixel column draws the min..max of its frames.
      const per = (f1 - f0 + 1) / plotW();
      for (let px = 0; px < plotW(); px++) {
        const a = f0 + Math.floor(px * per), b = Math.min(f1 + 1, f0 + Math.floor((px + 1) * per));
        let lo = Infinity, hi = -Infinity;
        for (let i = a; i < b; i++) { const x = v[i]; if (x !== null) { if (x < lo) lo = x; if (x > hi) hi = x; } }
        if (lo === Infinity) continue;
        ctx.moveTo(LABEL_W + px + 0.5, yOf(hi)); ctx.lineTo(LABEL_W + px + 0.5, yOf(lo) + 0.5);
      }
    } else {
      let started = false;
      for (let i = f0; i <= f1; i++) {
        if (v[i] === null) { started = false; continue; }
        const x = xOf(i / FPS), yy = yOf(v[i]);
        if (!started) { ctx.moveTo(x, yy); started = true; } else ctx.lineTo(x, yy);
        if (i + 1 <= f1 && i + 1 < N) ctx.lineTo(xOf((i + 1) / FPS), yy);  // a frame holds its value
      }
    }
    ctx.stroke();
    if (lane.keyframes) {
      ctx.fillStyle = "#ffffff";
      for (const [f, val] of lane.keyframes) {
        const x = xOf(f / FPS);
        if (x < LABEL_W - 4 || x > width + 4 || val === null) continue;
        ctx.beginPath(); ctx.arc(x, yOf(val), 3, 0, 2 * Math.PI); ctx.fill();
      }
    }
  }

  function drawEvents(lane) {
    (D.segments || []).forEach((s, i) => {
      ctx.fillStyle = i % 2 ? "rgba(178,140,240,0.18)" : "rgba(80,208,192,0.18)";
      const a = xOf(s.from / FPS), b = xOf(s.to / FPS);
      ctx.fillRect(a, lane.y, b - a, lane.height);
      ctx.fillStyle = "#b28cf0"; ctx.fillRect(Math.round(a), lane.y, 1, lane.height);
      if (b - a > 40) { ctx.fillStyle = "#e8e6e3"; ctx.fillText("segment " + s.index, a + 4, lane.y + lane.height / 2); }
    });
    markers((D.cuts || []).map((f) => f / FPS), "#e0607e", lane.y, lane.height);
    if (report && report.fresh) {
      const fresh = [];
      report.fresh.forEach((x, i) => { if (x) fresh.push(i / FPS); });
      markers(fresh, "#f0d060", lane.y + lane.height - 6, 6);
    }
  }

  function drawFilm(lane) {
    for (const { p, im } of thumbs) {
      if (!im.complete || !im.naturalWidth) continue;
      const h = lane.height - 4, w = (im.naturalWidth / im.naturalHeight) * h, x = xOf(p.frame / FPS);
      if (x + w < LABEL_W || x > width) continue;
      ctx.drawImage(im, x, lane.y + 2, w, h);
      ctx.fillStyle = "#f2a03d"; ctx.fillRect(Math.round(x), lane.y, 1, lane.height);
    }
  }

  function drawOverlay() {
    octx.setTransform(dpr, 0, 0, dpr, 0, 0);
    octx.clearRect(0, 0, width, TOTAL_H);
    if (view.cursor !== null) {
      octx.fillStyle = "rgba(255,255,255,0.8)";
      octx.fillRect(Math.round(xOf(view.cursor / FPS)), AXIS_H, 1, TOTAL_H - AXIS_H);
    }
    if (!player.hidden && player.currentTime > 0) {
      octx.fillStyle = "#f2a03d";
      octx.fillRect(Math.round(xOf(player.currentTime)), 0, 2, TOTAL_H);
    }
  }

  // --- the readout: every value at the cursor's frame ----------------------------------------
  const rows = document.getElementById("readout-rows");
  function setCursor(frame) {
    view.cursor = frame;
    const t = frame / FPS, out = [["time", fmtTime(t) + " s"], ["frame", "" + frame]];
    if (D.first_frame) out.push(["source frame", "" + (frame + D.first_frame)]);
    if (D.beats.length) out.push(["beat number", "" + (D.beat_number[frame] || 0)]);
    if ((D.bars || []).length) {
      out.push(["bar number", "" + ((D.bar_number || [])[frame] || 0)]);
      out.push(["beat in bar", "" + ((D.beat_in_bar || [])[frame] || 0)]);
    }
    for (const lane of lanes) if (lane.kind === "line") out.push([lane.key, fmt(lane.values[frame])]);
    if (report) {
      for (const k of ["fresh", "segment", "host"]) if (report[k]) out.push(["report." + k, fmt(report[k][frame])]);
    }
    rows.replaceChildren(...out.map(([k, v]) => {
      const tr = document.createElement("tr");
      tr.dataset.key = k;
      const a = document.createElement("td"), b = document.createElement("td");
      a.textContent = k; a.title = k; b.textContent = v;
      tr.append(a, b);
      return tr;
    }));
    drawOverlay();
  }

  // --- interaction ---------------------------------------------------------------------------
  function zoom(factor, x) {
    const t = tOf(x === undefined ? LABEL_W + plotW() / 2 : x);
    const span = Math.min(Math.max(DURATION, 1 / FPS) * 1.02, Math.max(4 / FPS, (view.t1 - view.t0) * factor));
    view.t0 = t - (t - view.t0) * span / (view.t1 - view.t0);
    view.t1 = view.t0 + span;
    clampView(); draw();
  }

  function clampView() {
    const span = view.t1 - view.t0, lo = -0.01 * DURATION, hi = DURATION * 1.01;
    if (view.t0 < lo) { view.t0 = lo; view.t1 = lo + span; }
    if (view.t1 > hi) { view.t1 = hi; view.t0 = Math.max(lo, hi - span); }
  }

  let drag = null;
  overlay.addEventListener("wheel", (e) => { e.preventDefault(); zoom(Math.exp(e.deltaY * 0.0015), e.offsetX); }, { passive: false });
  overlay.addEventListener("mousedown", (e) => { drag = { x: e.offsetX, t0: view.t0, t1: view.t1, moved: false }; });
  window.addEventListener("mouseup", (e) => {
    if (drag && !drag.moved && !player.hidden && e.target === overlay) {
      player.currentTime = Math.max(0, tOf(e.offsetX));
      player.play().catch(() => {});
    }
    drag = null;
  });
  overlay.addEventListener("mousemove", (e) => {
    if (drag && Math.abs(e.offsetX - drag.x) > 3) {
      drag.moved = true;
      const dt = ((e.offsetX - drag.x) / plotW()) * (drag.t1 - drag.t0);
      view.t0 = drag.t0 - dt; view.t1 = drag.t1 - dt;
      clampView(); draw();
    }
    if (e.offsetX >= LABEL_W) setCursor(frameOf(tOf(e.offsetX)));
  });
  document.getElementById("zoom-in").onclick = () => zoom(0.5);
  document.getElementById("zoom-out").onclick = () => zoom(2);
  document.getElementById("fit").onclick = () => { view.t0 = 0; view.t1 = Math.max(DURATION, 1 / FPS); draw(); };
  document.getElementById("unit").onchange = (e) => { view.unit = e.target.value; draw(); };
  window.addEventListener("keydown", (e) => {
    if (e.key === "+" || e.key === "=") zoom(0.5);
    else if (e.key === "-") zoom(2);
    else if (e.key === "0") document.getElementById("fit").onclick();
  });
  window.addEventListener("resize", resize);

  function tick() {
    drawOverlay();
    if (!player.paused) requestAnimationFrame(tick);
  }
  player.addEventListener("play", () => requestAnimationFrame(tick));
  player.addEventListener("seeked", drawOverlay);

  // --- the page around the lanes -------------------------------------------------------------
  document.title = (D.report ? "report: " : "timeline: ") + D.title;
  document.getElementById("title").textContent = document.title;
  const facts = [D.mode, N + " frames", FPS + " fps", fmtTime(DURATION) + " s"];
  if (D.audio && D.audio.tempo) facts.push(D.audio.tempo.toFixed(1) + " bpm");
  if (D.audio && D.audio.file) facts.push("audio " + D.audio.file + (D.audio.beat_source ? " (beats " +
    D.audio.beat_source + (D.audio.bar_source ? ", bars " + D.audio.bar_source : "") + ")" : ""));
  document.getElementById("facts").textContent = facts.join(" \u00b7 ");
  document.getElementById("notes").replaceChildren(...(D.notes || []).map((n) => {
    const li = document.createElement("li"); li.textContent = n; return li;
  }));
  if (player.getAttribute("src")) player.hidden = false;  // the page carries the track
  if (D.report && D.report.summary) {
    const sec = document.getElementById("summary"), table = document.createElement("table");
    for (const [k, v] of Object.entries(D.report.summary)) {
      const tr = document.createElement("tr"), a = document.createElement("td"), b = document.createElement("td");
      a.textContent = k; b.textContent = fmt(v); tr.append(a, b); table.append(tr);
    }
    sec.append(table); sec.hidden = false;
  }
  if (D.config) {
    document.getElementById("config-text").textContent = JSON.stringify(D.config, null, 2);
    document.getElementById("config").hidden = false;
  }

  // For scripts and tests driving the page: where a frame is on screen, and the view.
  window.dreamreel = { data: D, view, lanes, xOfFrame: (f) => xOf((f + 0.5) / FPS), setCursor, draw };
  resize();
  setCursor(0);
})();
