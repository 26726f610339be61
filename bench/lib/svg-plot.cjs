// SVG line plots for docs/scale.md, written by hand (no charting dependency): a log-scale x axis
// with ticks at the decades, a linear or log y axis, one polyline path per broker, markers on
// the measured points, a legend, axis labels. A pure function of its input, so that the output
// is reproducible and testable (test/unit/bench-svg-plot.test.ts). CommonJS so that both the
// bench (ESM) and jest (ts-jest, CommonJS) load it as is.
'use strict';

const W = 640;
const H = 360;
const M = { left: 72, right: 150, top: 36, bottom: 52 };
/** One colour per series, in order (colour-blind safe: Okabe-Ito). */
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9'];

/** Text for SVG/XML: the five characters with a meaning in markup escaped. */
function escapeXml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

/** 1000 -> "1k", 1e6 -> "1M", 1024 -> "1 KiB" when `bytes`. */
function fmtTick(v, bytes) {
  if (bytes) {
    if (v >= 2 ** 20) return `${+(v / 2 ** 20).toPrecision(3)} MiB`;
    if (v >= 1024) return `${+(v / 1024).toPrecision(3)} KiB`;
    return `${+v.toPrecision(3)} B`;
  }
  if (v >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (v >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(3)}`;
}

/** Powers of `base` covering [lo, hi] (at least two). */
function decades(lo, hi, base) {
  const a = Math.floor(Math.log(lo) / Math.log(base) + 1e-9);
  let b = Math.ceil(Math.log(hi) / Math.log(base) - 1e-9);
  if (b <= a) b = a + 1;
  const out = [];
  for (let k = a; k <= b; k++) out.push(base ** k);
  return out;
}

/** About five round linear ticks from 0 to above `hi`. */
function linearTicks(hi) {
  if (!(hi > 0)) return [0, 1];
  const raw = hi / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw);
  const out = [];
  for (let v = 0; v < hi + step * 0.999; v += step) out.push(+v.toPrecision(12));
  return out;
}

/**
 * The SVG text of one plot.
 * opts: { title, xLabel, yLabel, series: [{ name, points: [[x, y], ...] }], logY = false,
 *         xBytes = false (x ticks as B/KiB/MiB, decades of 1024 instead of 10), note = '' }.
 * Points with a non-finite or non-positive x (or y on a log y axis) are left out; a series with
 * no point left still gets its legend entry, marked "(no data)".
 */
function renderPlot(opts) {
  const { title, xLabel, yLabel, series, logY = false, xBytes = false, note = '' } = opts;
  const okX = (x) => Number.isFinite(x) && x > 0;
  const okY = (y) => Number.isFinite(y) && (logY ? y > 0 : y >= 0);
  const clean = series.map((s) => ({ name: s.name, points: s.points.filter(([x, y]) => okX(x) && okY(y)).sort((p, q) => p[0] - q[0]) }));
  const all = clean.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const xTicks = decades(xs.length ? Math.min(...xs) : 1, xs.length ? Math.max(...xs) : 10, xBytes ? 1024 : 10);
  const yTicks = logY ? decades(ys.length ? Math.min(...ys) : 1, ys.length ? Math.max(...ys) : 10, 10) : linearTicks(ys.length ? Math.max(...ys) : 1);
  const [x0, x1] = [Math.log(xTicks[0]), Math.log(xTicks[xTicks.length - 1])];
  const [y0, y1] = logY ? [Math.log(yTicks[0]), Math.log(yTicks[yTicks.length - 1])] : [yTicks[0], yTicks[yTicks.length - 1]];
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const px = (x) => M.left + ((Math.log(x) - x0) / (x1 - x0)) * pw;
  const py = (y) => M.top + ph - (((logY ? Math.log(y) : y) - y0) / (y1 - y0 || 1)) * ph;
  const r = (v) => v.toFixed(1);
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<title>${escapeXml(title)}</title>`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2 - (M.right - M.left) / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(title)}</text>`);
  // grid and ticks
  for (const t of xTicks) {
    const x = r(px(t));
    out.push(`<line class="xtick" x1="${x}" y1="${M.top}" x2="${x}" y2="${M.top + ph}" stroke="#dddddd"/>`);
    out.push(`<text x="${x}" y="${M.top + ph + 16}" text-anchor="middle">${escapeXml(fmtTick(t, xBytes))}</text>`);
  }
  for (const t of yTicks) {
    const y = r(py(t));
    out.push(`<line class="ytick" x1="${M.left}" y1="${y}" x2="${M.left + pw}" y2="${y}" stroke="#dddddd"/>`);
    out.push(`<text x="${M.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(fmtTick(t, false))}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333333"/>`);
  out.push(`<text x="${M.left + pw / 2}" y="${H - 12}" text-anchor="middle">${escapeXml(xLabel)} (log scale)</text>`);
  out.push(`<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}${logY ? ' (log scale)' : ''}</text>`);
  // one path per series, markers on the points
  clean.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    if (s.points.length) {
      const d = s.points.map(([x, y], k) => `${k ? 'L' : 'M'}${r(px(x))} ${r(py(y))}`).join(' ');
      out.push(`<path class="series" data-name="${escapeXml(s.name)}" d="${d}" fill="none" stroke="${colour}" stroke-width="2"/>`);
      for (const [x, y] of s.points) out.push(`<circle cx="${r(px(x))}" cy="${r(py(y))}" r="3" fill="${colour}"/>`);
    }
    const ly = M.top + 10 + i * 20;
    const lx = M.left + pw + 14;
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 20}" y2="${ly}" stroke="${colour}" stroke-width="2"/>`);
    out.push(`<text x="${lx + 26}" y="${ly}" dominant-baseline="middle">${escapeXml(s.name)}${s.points.length ? '' : ' (no data)'}</text>`);
  });
  if (note) out.push(`<text x="${M.left}" y="${M.top - 6}" font-size="10" fill="#555555">${escapeXml(note)}</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

module.exports = { renderPlot, escapeXml, fmtTick, decades };
