export function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile of an already sorted numeric array (p in 0..100). */
export function percentileSorted(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function fmtValue(v, unit) {
  if (!Number.isFinite(v)) return 'n/a';
  if (unit === 'msgs/s') return v >= 1e6 ? (v / 1e6).toFixed(2) + 'M' : (v / 1e3).toFixed(1) + 'k';
  if (unit === 'ms') return v < 10 ? v.toFixed(3) : v < 100 ? v.toFixed(1) : v.toFixed(0);
  if (unit === 'B') return String(Math.round(v));
  if (unit === 'KB') return v < 10 ? v.toFixed(2) : v.toFixed(1);
  return String(Math.round(v * 100) / 100);
}

export function fmtRatio(r) {
  if (!Number.isFinite(r)) return '–';
  return r.toFixed(2) + '×';
}
