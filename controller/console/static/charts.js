// Small inline SVG charts (no library): stacked bars and a line, sized by viewBox so they scale.
const SVG_NS = "http://www.w3.org/2000/svg";
const W = 640, H = 220, L = 44, R = 12, T = 14, B = 34;

function el(name, attrs = {}, parent = null, text = null) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

function niceMax(value) {
  // Four grid steps of a round, whole size (the plots count whole things): 4, 8 … 40, 60, 80, 100, 120 …
  if (value <= 4) return 4;
  const quarter = value / 4;
  if (quarter <= 10) return 4 * Math.ceil(quarter);
  const p = 10 ** Math.floor(Math.log10(quarter));
  return 4 * [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].map((m) => m * p).find((m) => m >= quarter);
}

function frame(labels, max, format) {
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img" });
  const plotW = W - L - R, plotH = H - T - B;
  for (let i = 0; i <= 4; i++) {
    const y = T + plotH - (plotH * i) / 4;
    el("line", { x1: L, x2: W - R, y1: y, y2: y, class: "grid" }, svg);
    el("text", { x: L - 6, y: y + 4, class: "axis", "text-anchor": "end" }, svg, format((max * i) / 4));
  }
  const step = plotW / Math.max(labels.length, 1);
  const every = Math.ceil(labels.length / 10);
  labels.forEach((label, i) => {
    if (i % every === 0) el("text", { x: L + step * (i + 0.5), y: H - B + 16, class: "axis", "text-anchor": "middle" }, svg, label);
  });
  return { svg, plotW, plotH, step, y: (v) => T + plotH - (plotH * v) / max };
}

function legend(container, series) {
  const div = document.createElement("div");
  div.className = "legend";
  for (const s of series) {
    const item = document.createElement("span");
    item.innerHTML = `<i class="swatch ${s.cls}"></i>`;
    item.append(s.name);
    div.appendChild(item);
  }
  container.appendChild(div);
}

/** Stacked bars: one bar per label, one segment per series. */
export function barChart(container, { labels, series, format = (v) => String(Math.round(v)) }) {
  container.replaceChildren();
  const totals = labels.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const f = frame(labels, max, format);
  labels.forEach((label, i) => {
    let base = 0;
    for (const s of series) {
      const v = s.values[i] || 0;
      if (v > 0) {
        const rect = el("rect", { x: L + f.step * i + f.step * 0.15, width: f.step * 0.7, y: f.y(base + v),
          height: f.y(base) - f.y(base + v), class: `bar ${s.cls}`, "data-date": label, "data-value": v }, f.svg);
        el("title", {}, rect, `${label} ${s.name}: ${format(v)}`);
      }
      base += v;
    }
  });
  container.appendChild(f.svg);
  legend(container, series);
}

/** A line with dots; null values leave gaps (days without data). */
export function lineChart(container, { labels, values, max = null, cls = "line-a", name = "",
  format = (v) => String(Math.round(v)) }) {
  container.replaceChildren();
  const top = max ?? niceMax(Math.max(0, ...values.filter((v) => v !== null)));
  const f = frame(labels, top, format);
  let d = "", pen = false;
  values.forEach((v, i) => {
    if (v === null || v === undefined) { pen = false; return; }
    const x = L + f.step * (i + 0.5), y = f.y(v);
    d += `${pen ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)} `;
    pen = true;
    const dot = el("circle", { cx: x, cy: y, r: 3.5, class: `dot ${cls}`, "data-date": labels[i], "data-value": v }, f.svg);
    el("title", {}, dot, `${labels[i]}: ${format(v)}`);
  });
  if (d) el("path", { d, class: `plot-line ${cls}` }, f.svg).parentNode.prepend(f.svg.lastChild);
  container.appendChild(f.svg);
  if (name) legend(container, [{ name, cls }]);
}
