// Time-axis arithmetic for the TimelineView (pure; node runs it in the tests):
// tick values, tick text, zooming around a point and panning within limits.

// Round tick values covering [d0, d1]: about `count` of them, steps of 1, 2 or 5
// times a power of ten; whole numbers only when `integer` (the step clock).
export function niceTicks(d0, d1, count = 8, integer = false) {
  const span = d1 - d0;
  if (!(span > 0) || !Number.isFinite(span)) return [];
  const raw = span / Math.max(1, count);
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  let step = power;
  for (const m of [1, 2, 5, 10]) {
    if (m * power >= raw) { step = m * power; break; }
  }
  if (integer) step = Math.max(1, Math.round(step));
  const first = Math.ceil(d0 / step - 1e-9) * step;
  const ticks = [];
  for (let v = first; v <= d1 + step * 1e-9 && ticks.length < 1000; v += step) {
    ticks.push(Number(v.toPrecision(12)));
  }
  return ticks;
}

// Text of a tick: as many decimals as the tick step needs.
export function formatTick(value, step) {
  if (!(step > 0)) return String(value);
  let decimals = Math.max(0, Math.min(9, -Math.floor(Math.log10(step) + 1e-9)));
  // A step like 0.25 needs one more decimal than its magnitude says.
  while (decimals < 9 && Math.abs(step * 10 ** decimals - Math.round(step * 10 ** decimals)) > 1e-6) decimals++;
  return value.toFixed(decimals);
}

// The visible range after zooming by `factor` (> 1: closer) around `anchor`,
// never narrower than `minSpan` and never beyond `limits`.
export function zoomDomain(domain, factor, anchor, limits, minSpan) {
  const [d0, d1] = domain;
  const span = Math.max((d1 - d0) / factor, minSpan);
  const t = d1 > d0 ? (anchor - d0) / (d1 - d0) : 0.5;
  return clampDomain([anchor - t * span, anchor - t * span + span], limits);
}

// The visible range moved by `delta` (in time units), kept within `limits`.
export function panDomain(domain, delta, limits) {
  return clampDomain([domain[0] + delta, domain[1] + delta], limits);
}

export function clampDomain(domain, limits) {
  let [d0, d1] = domain;
  const [l0, l1] = limits;
  const span = Math.min(d1 - d0, l1 - l0);
  if (d0 < l0) { d0 = l0; d1 = l0 + span; }
  if (d1 > l1) { d1 = l1; d0 = l1 - span; }
  return [d0, d1];
}

// The whole range of a clock with a margin on each side (the "fit" view).
export function fitDomain(range, margin = 0.02) {
  const [r0, r1] = range;
  const span = Math.max(r1 - r0, 1e-9);
  return [r0 - span * margin, r1 + span * margin];
}
