// The TimelineView widget: fiber lanes and HAL queue lanes on one time axis, drawn
// as SVG from iree_lab.views.timeline_data (every position and hover text comes
// from Python). Wheel zooms around the pointer, drag pans, a double click fits;
// hovering an item shows its details, a click selects it (synced as `selected`).
import { h, svg, debounce } from './common.js';
import { niceTicks, formatTick, zoomDomain, panDomain, fitDomain } from './timeline_scale.js';

const LABEL_W = 180;
const AXIS_H = 30;
const LANE_H = { fiber: 28, queue: 44 };
const MIN_W = 2;
const DRAG_PX = 3;

function render({ model, el }) {
  el.classList.add('iree-lab', 'tex2jax_ignore', 'mathjax_ignore', 'il-timeline');
  const clockBtns = {};
  const status = h('span', { class: 'il-tl-status il-dim' });
  const toolbar = h('div', { class: 'il-tl-toolbar' });
  for (const [clock, text] of [['step', 'steps'], ['wall', 'wall time']]) {
    clockBtns[clock] = h('button', {
      class: 'il-tab', dataset: { clock }, title: `time axis: ${text}`,
      onclick: () => { model.set('clock', clock); model.set('window', []); model.save_changes(); },
    }, text);
    toolbar.append(clockBtns[clock]);
  }
  toolbar.append(
    h('button', { class: 'il-btn', title: 'zoom in', onclick: () => zoomBy(1.5) }, '+'),
    h('button', { class: 'il-btn', title: 'zoom out', onclick: () => zoomBy(1 / 1.5) }, '\u2212'),
    h('button', { class: 'il-btn', title: 'show everything', onclick: () => fit() }, 'fit'),
    status);
  const legend = h('div', { class: 'il-tl-legend' });
  const labels = h('div', { class: 'il-tl-labels', style: { width: LABEL_W + 'px' } });
  const plot = svg('svg', { class: 'il-tl-svg' });
  const tip = h('div', { class: 'il-tl-tip', hidden: true });
  const body = h('div', { class: 'il-tl-body' }, labels, plot, tip);
  const applyHeight = () => {
    const height = model.get('height');
    body.style.maxHeight = height > 0 ? height + 'px' : '';
    body.style.overflowY = height > 0 ? 'auto' : '';
  };
  applyHeight();
  el.append(toolbar, legend, body);

  let domain = null;      // visible [start, end] on the current clock
  let rows = new Map();   // lane id -> {y, height}
  let itemById = new Map();
  let width = 600;
  let drawn = false;

  const data = () => model.get('data') || {};
  const clock = () => model.get('clock');
  const axis = () => (data().axes || {})[clock()] || { range: [0, 1], label: '' };
  const limits = () => {
    const [r0, r1] = axis().range;
    const span = Math.max(r1 - r0, 1e-9);
    return [r0 - span * 0.1, r1 + span * 0.1];
  };
  const minSpan = () => (clock() === 'step' ? 0.02 : 1e-4);
  const X = (v) => ((v - domain[0]) / (domain[1] - domain[0])) * width;
  const invX = (px) => domain[0] + (px / width) * (domain[1] - domain[0]);

  // Wheel and drag events come faster than frames: draw once per frame.
  let frame = 0;
  function setDomain(next, sync = true) {
    domain = next;
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; draw(); });
    if (sync) syncWindow();
  }
  const syncWindow = debounce(() => {
    model.set('window', [domain[0], domain[1]]);
    model.save_changes();
  }, 200);
  function fit() { setDomain(fitDomain(axis().range)); }
  function zoomBy(factor, anchor) {
    const a = anchor === undefined ? (domain[0] + domain[1]) / 2 : anchor;
    setDomain(zoomDomain(domain, factor, a, limits(), minSpan()));
  }

  function drawLegend() {
    legend.textContent = '';
    for (const entry of data().legend || []) {
      const swatch = h('span', { class: `il-tl-swatch il-tl-swatch-${entry.shape}`, style: { background: entry.color } });
      legend.append(h('span', { class: 'il-tl-legend-item' }, swatch, entry.label));
    }
  }

  function layoutRows() {
    rows = new Map();
    labels.textContent = '';
    let y = 0;
    for (const lane of data().lanes || []) {
      const height = LANE_H[lane.kind] || 30;
      rows.set(lane.id, { y, height });
      labels.append(h('div', {
        class: `il-tl-lane-label il-tl-lane-${lane.kind}`, dataset: { lane: lane.id },
        style: { height: height + 'px' }, title: lane.sub || '',
      }, h('span', { class: 'il-mono' }, lane.label), h('span', { class: 'il-tl-lane-sub il-dim' }, lane.sub || '')));
      y += height;
    }
    labels.append(h('div', { style: { height: AXIS_H + 'px' } }));
    return y;
  }

  function itemShape(item, row, x0, x1) {
    const attrs = { 'data-id': item.id, 'data-kind': item.kind, class: `il-tl-item il-tl-${item.kind} il-tl-class-${item.class}` };
    const w = Math.max(x1 - x0, MIN_W);
    if (item.kind === 'marker') {
      const cy = row.y + row.height / 2;
      if (item.class === 'done') return svg('circle', { ...attrs, cx: x0, cy, r: 5, fill: item.color });
      const d = `M${x0 - 4},${cy - 4}L${x0 + 4},${cy + 4}M${x0 - 4},${cy + 4}L${x0 + 4},${cy - 4}`;
      return svg('path', { ...attrs, d, stroke: item.color, 'stroke-width': 3 });
    }
    if (item.kind === 'span') {
      const running = item.class === 'running';
      const hgt = running ? row.height - 8 : (row.height - 8) * 0.55;
      const y = row.y + (row.height - hgt) / 2;
      return svg('rect', { ...attrs, x: x0, y, width: w, height: hgt, fill: item.color, rx: 2,
        stroke: running ? '#333' : 'none', 'stroke-width': 0.5, 'fill-opacity': running ? 1 : 0.8 });
    }
    if (item.kind === 'dispatch') {
      return svg('rect', { ...attrs, x: x0, y: row.y + 15, width: w, height: 12, fill: item.color, rx: 1 });
    }
    // A queue operation; an open one (never completed) is hollow with a dashed border.
    return svg('rect', { ...attrs, x: x0, y: row.y + 6, width: w, height: 26, fill: item.color, rx: 2,
      stroke: item.open ? item.color : '#333', 'stroke-width': item.open ? 1.5 : 0.4,
      'stroke-dasharray': item.open ? '4 2' : null, 'fill-opacity': item.open ? 0.3 : 1 });
  }

  function draw() {
    const t0 = performance.now();
    const d = data();
    if (!d.items) return;
    if (!domain) domain = fitDomain(axis().range);
    for (const [c, b] of Object.entries(clockBtns)) b.classList.toggle('il-active', c === clock());
    const lanesHeight = layoutRows();
    width = Math.max(300, body.clientWidth - LABEL_W - 2);
    const height = lanesHeight + AXIS_H;
    plot.setAttribute('width', width);
    plot.setAttribute('height', height);
    plot.textContent = '';
    const defs = svg('defs');
    const linkColors = d.link_colors || {};
    for (const [kind, color] of Object.entries(linkColors)) {
      const marker = svg('marker', { id: `il-tl-arrow-${kind}`, viewBox: '0 0 8 8', refX: 7, refY: 4, markerWidth: 6, markerHeight: 6, orient: 'auto' });
      marker.append(svg('path', { d: 'M0,0L8,4L0,8z', fill: color }));
      defs.append(marker);
    }
    plot.append(defs);
    // Lane backgrounds, grid and axis.
    const grid = svg('g', { class: 'il-tl-grid' });
    let stripe = 0;
    for (const row of rows.values()) {
      grid.append(svg('rect', { x: 0, y: row.y, width, height: row.height, class: stripe++ % 2 ? 'il-tl-stripe' : 'il-tl-stripe0' }));
    }
    const ax = axis();
    const ticks = niceTicks(domain[0], domain[1], Math.max(2, Math.floor(width / 90)), ax.integer);
    const tickStep = ticks.length > 1 ? ticks[1] - ticks[0] : 1;
    for (const v of ticks) {
      const x = X(v);
      grid.append(svg('line', { x1: x, x2: x, y1: 0, y2: lanesHeight, class: 'il-tl-gridline' }));
      const label = svg('text', { x, y: lanesHeight + 13, class: 'il-tl-tick', 'text-anchor': 'middle' });
      label.textContent = formatTick(v, tickStep);
      grid.append(label);
    }
    const axisLabel = svg('text', { x: width - 4, y: lanesHeight + 27, class: 'il-tl-axis-label', 'text-anchor': 'end' });
    axisLabel.textContent = ax.label;
    grid.append(axisLabel);
    plot.append(grid);
    // Items: spans and operations first, dispatches and markers over them.
    const layer = svg('g', { class: 'il-tl-items' });
    const labelLayer = svg('g', { class: 'il-tl-labels-layer' });
    itemById = new Map();
    const order = { span: 0, op: 1, dispatch: 2, marker: 3 };
    const items = [...d.items].sort((a, b) => (order[a.kind] || 0) - (order[b.kind] || 0));
    const c = clock();
    const selected = model.get('selected');
    let shown = 0;
    for (const item of items) {
      itemById.set(item.id, item);
      const row = rows.get(item.lane);
      if (!row) continue;
      const [v0, v1] = item[c];
      if (item.kind === 'span' && !(v1 > v0)) continue;
      if (v1 < domain[0] || v0 > domain[1]) continue;
      const x0 = Math.max(X(v0), -10), x1 = Math.min(X(v1), width + 10);
      if (item.waiting) {
        const [w0, w1] = item.waiting[c];
        layer.append(svg('rect', { x: X(w0), y: row.y + 35, width: Math.max(X(w1) - X(w0), 1), height: 4,
          class: 'il-tl-waiting', 'data-id': item.id, 'data-kind': 'waiting' }));
      }
      const shape = itemShape(item, row, x0, x1);
      if (item.id === selected) shape.classList.add('il-selected');
      layer.append(shape);
      shown += 1;
      if (item.kind === 'op' && item.label && x1 - x0 > item.label.length * 6.2 + 6) {
        const text = svg('text', { x: x0 + 3, y: row.y + 16, class: 'il-tl-bar-label' });
        text.textContent = item.label;
        labelLayer.append(text);
      }
    }
    plot.append(layer, labelLayer);
    // Links: from a signal to what waited for it.
    const links = svg('g', { class: 'il-tl-links' });
    for (const link of d.links || []) {
      const a = itemById.get(link.from), b = itemById.get(link.to);
      if (!a || !b) continue;
      const ra = rows.get(a.lane), rb = rows.get(b.lane);
      const xa = X(a[c][1]);
      const xb = link.kind === 'signal' ? X(b[c][1]) : X(b[c][0]);
      if (Math.max(xa, xb) < 0 || Math.min(xa, xb) > width) continue;
      const ya = ra.y + ra.height / 2, yb = rb.y + rb.height / 2;
      const bend = Math.max(20, Math.abs(xb - xa) / 2);
      links.append(svg('path', {
        d: `M${xa},${ya}C${xa + bend},${ya} ${xb - bend},${yb} ${xb},${yb}`,
        class: `il-tl-link il-tl-link-${link.kind}`, stroke: linkColors[link.kind] || '#999',
        'marker-end': `url(#il-tl-arrow-${link.kind})`, 'data-from': link.from, 'data-to': link.to,
      }));
    }
    plot.append(links);
    const ms = performance.now() - t0;
    const precise = 10 ** Math.floor(Math.log10((domain[1] - domain[0]) / 100));
    status.textContent = `${shown} of ${d.items.length} items \u00b7 ${formatTick(domain[0], precise)} \u2013 ${formatTick(domain[1], precise)}`;
    el.dataset.drawMs = ms.toFixed(1);
    if (!drawn) {
      drawn = true;
      model.set('draw_ms', ms);
      model.save_changes();
    }
  }

  // Hover details and selection.
  function showTip(item, ev) {
    tip.textContent = '';
    tip.append(h('div', { class: 'il-tl-tip-title' }, item.title || item.id));
    const table = h('table', { class: 'il-table il-kv' });
    for (const [k, v] of item.detail || []) table.append(h('tr', {}, h('td', {}, k), h('td', { class: 'il-mono' }, v)));
    tip.append(table);
    tip.hidden = false;
    tip.dataset.id = item.id;
    const box = body.getBoundingClientRect();
    let left = ev.clientX - box.left + 14;
    const top = ev.clientY - box.top + 14;
    const tipWidth = tip.offsetWidth || 320;
    if (left + tipWidth > box.width) left = Math.max(0, ev.clientX - box.left - tipWidth - 14);
    tip.style.left = left + 'px';
    tip.style.top = top + 'px';
  }
  function hideTip() { tip.hidden = true; delete tip.dataset.id; }

  plot.addEventListener('pointermove', (ev) => {
    if (drag && drag.moved) return;
    const target = ev.target.closest && ev.target.closest('[data-id]');
    const item = target && itemById.get(target.getAttribute('data-id'));
    if (item) showTip(item, ev); else hideTip();
  });
  plot.addEventListener('pointerleave', hideTip);

  let drag = null;
  plot.addEventListener('pointerdown', (ev) => {
    if (ev.button !== 0) return;
    drag = { x: ev.clientX, domain: [...domain], moved: false, target: ev.target };
    plot.setPointerCapture(ev.pointerId);
  });
  plot.addEventListener('pointermove', (ev) => {
    if (!drag) return;
    const dx = ev.clientX - drag.x;
    if (!drag.moved && Math.abs(dx) < DRAG_PX) return;
    drag.moved = true;
    plot.classList.add('il-dragging');
    hideTip();
    const delta = -(dx / width) * (drag.domain[1] - drag.domain[0]);
    setDomain(panDomain(drag.domain, delta, limits()));
  });
  plot.addEventListener('pointerup', (ev) => {
    if (!drag) return;
    const wasDrag = drag.moved;
    const target = drag.target;
    drag = null;
    plot.classList.remove('il-dragging');
    if (wasDrag) return;
    const hit = target.closest && target.closest('[data-id]');
    const id = hit ? hit.getAttribute('data-id') : '';
    if (id !== model.get('selected')) { model.set('selected', id); model.save_changes(); }
  });
  plot.addEventListener('wheel', (ev) => {
    ev.preventDefault();
    const box = plot.getBoundingClientRect();
    zoomBy(Math.exp(-ev.deltaY * 0.002), invX(ev.clientX - box.left));
  }, { passive: false });
  plot.addEventListener('dblclick', () => fit());

  function fromModel() {
    const w = model.get('window');
    domain = w && w.length === 2 && w[1] > w[0] ? [w[0], w[1]] : fitDomain(axis().range);
    draw();
  }
  const onData = () => { drawLegend(); fromModel(); };
  const onWindow = () => {
    const w = model.get('window');
    if (w && w.length === 2 && domain && w[0] === domain[0] && w[1] === domain[1]) return;
    fromModel();
  };
  const onSelected = () => draw();
  model.on('change:data', onData);
  model.on('change:clock', fromModel);
  model.on('change:window', onWindow);
  model.on('change:selected', onSelected);
  model.on('change:height', applyHeight);
  drawLegend();
  // Draw once attached (the width is known), and again when the cell is resized.
  requestAnimationFrame(fromModel);
  let resizeObserver = null;
  if (typeof ResizeObserver !== 'undefined') {
    let lastWidth = 0;
    resizeObserver = new ResizeObserver(() => {
      const w = body.clientWidth;
      if (w > 0 && Math.abs(w - lastWidth) > 1) { lastWidth = w; if (domain) draw(); }
    });
    resizeObserver.observe(body);
  }
  return () => {
    model.off('change:data', onData);
    model.off('change:clock', fromModel);
    model.off('change:window', onWindow);
    model.off('change:selected', onSelected);
    model.off('change:height', applyHeight);
    if (frame) cancelAnimationFrame(frame);
    if (resizeObserver) resizeObserver.disconnect();
  };
}

export default { render };
