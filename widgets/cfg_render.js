// Draws a CFG (data from iree_lab.views.cfg.cfg_data) into an element: blocks as
// HTML boxes listing their instructions, edges as SVG paths with labelled remaps,
// zoom (wheel, buttons) and pan (drag). Breakpoints and the current pc are
// classes updated in place, without a new layout.
import { h, svg, hex8, measureChar } from './common.js';
import { layoutGraph } from './cfg_layout.js';

const LINE_PAD = 8;      // block padding (px)
const GUTTER_CH = 2;     // breakpoint gutter, in characters
const PC_CH = 9;         // "0000002B " in characters
const LABEL_PAD = 6;
const READABLE = 0.9;    // the scale a large graph opens at (text stays legible)

export class CFGRenderer {
  // options: {onToggleBreakpoint(pc), onSelect(pc), height}
  constructor(root, options = {}) {
    this.root = root;
    this.options = options;
    this.scale = 1;
    this.tx = 0;
    this.ty = 0;
    this.instEls = new Map(); // pc -> element
    this.headEls = new Map(); // block marker pc -> the block's head (a stop can be there)
    this.blockEls = [];
    this.breakpoints = new Set();
    this.currentPc = -1;
    this.build();
  }

  build() {
    this.toolbar = h('div', { class: 'il-cfg-toolbar' },
      h('button', { class: 'il-btn', title: 'zoom in', onclick: () => this.zoomBy(1.25) }, '+'),
      h('button', { class: 'il-btn', title: 'zoom out', onclick: () => this.zoomBy(0.8) }, '\u2212'),
      h('button', { class: 'il-btn', title: 'fit the graph', onclick: () => this.fit() }, 'fit'),
      h('button', { class: 'il-btn', title: 'actual size', onclick: () => this.setScale(1) }, '1:1'),
      h('button', { class: 'il-btn', title: 'show the current instruction', onclick: () => this.reveal(this.currentPc) }, 'current'),
    );
    this.title = h('span', { class: 'il-cfg-title' });
    this.status = h('span', { class: 'il-cfg-status il-dim' });
    this.toolbar.append(this.title, this.status);
    this.viewport = h('div', { class: 'il-cfg-viewport', style: { height: (this.options.height || 560) + 'px' } });
    this.stage = h('div', { class: 'il-cfg-stage' });
    this.viewport.append(this.stage);
    this.root.append(this.toolbar, this.viewport);
    this.installPanZoom();
    // A widget may be drawn before it is on screen (zero size): place the graph once
    // the viewport gets a size, and keep it when the user resizes the viewport.
    this.placed = false;
    if (typeof ResizeObserver !== 'undefined') {
      this.resizeObserver = new ResizeObserver(() => {
        const r = this.viewport.getBoundingClientRect();
        if (!this.placed && this.layout && r.width > 0 && r.height > 0) this.place();
      });
      this.resizeObserver.observe(this.viewport);
    }
  }

  // Initial view: the current instruction when there is one; else the whole graph when it
  // is readable fitted; else the entry block at a readable size, its left edge in view (the
  // pcs and opcodes start there), with a hint that "fit" shows everything.
  place() {
    const r = this.viewport.getBoundingClientRect();
    if (!this.layout || r.width <= 0 || r.height <= 0) return;
    this.placed = true;
    if (this.currentEl(this.currentPc)) { this.reveal(this.currentPc); return; }
    const b = this.bounds;
    const fitScale = Math.min((r.width - 8) / (b.x1 - b.x0), (r.height - 8) / (b.y1 - b.y0));
    if (fitScale >= 0.5) { this.fit(); return; }
    const entry = this.layout.nodes[0];
    this.scale = READABLE;
    this.showBlock(entry.x, entry.width, entry.y - 4, r);
    this.hint = 'entry block; \u201cfit\u201d shows the whole graph';
    this.apply();
  }

  // Pans so that a block starting at x (width w) is in view horizontally: centred when it
  // fits, else its left edge at the viewport's left; `top` at the top.
  showBlock(x, w, top, r) {
    const width = w * this.scale;
    this.tx = width <= r.width - 16 ? r.width / 2 - (x + w / 2) * this.scale : 8 - x * this.scale;
    this.ty = 8 - top * this.scale;
  }

  installPanZoom() {
    let drag = null;
    this.viewport.addEventListener('pointerdown', (ev) => {
      if (ev.target.closest('.il-cfg-inst') || ev.button !== 0) return;
      drag = { x: ev.clientX, y: ev.clientY, tx: this.tx, ty: this.ty };
      this.viewport.setPointerCapture(ev.pointerId);
      this.viewport.classList.add('il-dragging');
    });
    this.viewport.addEventListener('pointermove', (ev) => {
      if (!drag) return;
      this.tx = drag.tx + ev.clientX - drag.x;
      this.ty = drag.ty + ev.clientY - drag.y;
      this.apply();
    });
    const end = () => { drag = null; this.viewport.classList.remove('il-dragging'); };
    this.viewport.addEventListener('pointerup', end);
    this.viewport.addEventListener('pointercancel', end);
    this.viewport.addEventListener('wheel', (ev) => {
      ev.preventDefault();
      const r = this.viewport.getBoundingClientRect();
      if (ev.ctrlKey || ev.metaKey || !ev.shiftKey) {
        this.zoomBy(Math.exp(-ev.deltaY * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
      } else {
        this.tx -= ev.deltaX || ev.deltaY;
        this.apply();
      }
    }, { passive: false });
  }

  apply() {
    this.stage.style.transform = `translate(${this.tx}px, ${this.ty}px) scale(${this.scale})`;
    this.status.textContent = `${this.statsText || ''}  ${Math.round(this.scale * 100)}%` +
      (this.hint ? ` \u00b7 ${this.hint}` : '');
  }

  zoomBy(factor, cx, cy) {
    const r = this.viewport.getBoundingClientRect();
    if (cx === undefined) { cx = r.width / 2; cy = r.height / 2; }
    const s = Math.min(4, Math.max(0.01, this.scale * factor));
    // Keep the point under the cursor fixed.
    this.tx = cx - (cx - this.tx) * (s / this.scale);
    this.ty = cy - (cy - this.ty) * (s / this.scale);
    this.scale = s;
    this.apply();
  }

  setScale(s) { this.zoomBy(s / this.scale); }

  fit() {
    if (!this.layout) return;
    const r = this.viewport.getBoundingClientRect();
    const b = this.bounds;
    const w = b.x1 - b.x0, hgt = b.y1 - b.y0;
    const s = Math.min(1, (r.width - 8) / w, (r.height - 8) / hgt);
    this.scale = Math.max(0.01, s);
    // Centred on everything drawn (blocks, edge routes and labels), whatever its origin.
    this.tx = (r.width - w * this.scale) / 2 - b.x0 * this.scale;
    this.ty = 4 - b.y0 * this.scale;
    this.hint = '';
    this.apply();
  }

  // Draws `data` ({function, blocks, edges}); returns timings in ms.
  draw(data) {
    const t0 = performance.now();
    this.data = data;
    this.stage.textContent = '';
    this.instEls.clear();
    this.headEls.clear();
    this.blockEls = [];
    this.title.textContent = `@${data.function}`;
    const ch = measureChar(this.viewport, 'il-cfg-mono');  // the stage may be scaled
    const lineH = Math.ceil(ch.height);
    const blocks = data.blocks;
    const nodes = blocks.map((b) => {
      let cols = b.name.length + 12;
      for (const line of b.lines) cols = Math.max(cols, GUTTER_CH + PC_CH + line.text.length);
      // +1 column of slack and 2px for the borders (boxes are border-box).
      return { width: Math.ceil((cols + 1) * ch.width + 2 * LINE_PAD + 2), height: (b.lines.length + 1) * lineH + 2 * LINE_PAD + 2 };
    });
    const edges = data.edges.map((e) => ({
      source: e.source, target: e.target,
      labelWidth: e.label ? Math.ceil(e.label.length * ch.width * 0.92) + LABEL_PAD : 0,
      labelHeight: e.label ? lineH : 0,
    }));
    // Room on the right of a block for its self-loops and their labels.
    for (const e of edges) if (e.source === e.target) nodes[e.source].loopWidth = 30 + e.labelWidth;
    const t1 = performance.now();
    const layout = layoutGraph({ nodes, edges });
    const t2 = performance.now();
    this.layout = layout;
    this.bounds = graphBounds(layout);
    this.hint = '';
    this.stage.style.width = layout.width + 'px';
    this.stage.style.height = layout.height + 'px';

    // Edges first (under the blocks).
    const svgEl = svg('svg', { class: 'il-cfg-edges', width: layout.width, height: layout.height });
    const defs = svg('defs');
    for (const kind of ['branch', 'true', 'false', 'back', 'yield']) {
      const marker = svg('marker', { id: `il-arrow-${kind}-${this.uid()}`, viewBox: '0 0 10 10', refX: 9, refY: 5,
        markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
      marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', class: `il-arrow il-arrow-${kind}` }));
      defs.append(marker);
    }
    svgEl.append(defs);
    const labels = document.createDocumentFragment();
    data.edges.forEach((e, i) => {
      const route = layout.edges[i];
      if (!route) return;
      const kind = edgeKind(e, route);
      const path = svg('path', { d: pathData(route.points, route.selfLoop), class: `il-cfg-edge il-edge-${kind}`,
        'marker-end': `url(#il-arrow-${kind}-${this.uidValue})` });
      path.dataset.source = e.source;
      path.dataset.target = e.target;
      svgEl.append(path);
      if (route.label && e.label) {
        labels.append(h('div', {
          class: `il-cfg-edge-label il-cfg-mono il-edge-${kind}`,
          style: { left: route.label.x + 'px', top: route.label.y + 'px', lineHeight: lineH + 'px' },
          title: `^bb${e.source} \u2192 ^bb${e.target}`,
          dataset: { source: e.source, target: e.target },
        }, e.label));
      }
    });
    this.stage.append(svgEl);

    const frag = document.createDocumentFragment();
    blocks.forEach((b, i) => {
      const n = layout.nodes[i];
      const cls = ['il-cfg-block'];
      if (b.exit === 'return') cls.push('il-exit-return');
      if (b.exit === 'fail') cls.push('il-exit-fail');
      if (b.suspends) cls.push('il-suspends');
      if (i === 0) cls.push('il-entry');
      const el = h('div', {
        class: cls.join(' '),
        style: { left: n.x + 'px', top: n.y + 'px', width: n.width + 'px', height: n.height + 'px', padding: LINE_PAD + 'px', lineHeight: lineH + 'px' },
        dataset: { block: b.id, pc: b.pc },
      }, h('div', { class: 'il-cfg-block-head il-cfg-mono', dataset: { pc: b.pc } }, `${b.name}`, h('span', { class: 'il-dim' }, `  ${hex8(b.pc)}`)));
      this.headEls.set(b.pc, el.firstChild);
      for (const line of b.lines) {
        const inst = h('div', { class: 'il-cfg-inst il-cfg-mono', dataset: { pc: line.pc, op: line.op }, title: `${line.op} at pc ${hex8(line.pc)} (click: toggle breakpoint)` },
          h('span', { class: 'il-bp-dot' }, '\u25CF'),
          h('span', { class: 'il-cfg-pc' }, hex8(line.pc) + ' '),
          h('span', { class: 'il-cfg-text' }, line.text));
        inst.addEventListener('click', (ev) => {
          ev.stopPropagation();
          if (this.options.onToggleBreakpoint) this.options.onToggleBreakpoint(line.pc);
        });
        this.instEls.set(line.pc, inst);
        el.append(inst);
      }
      this.blockEls.push(el);
      frag.append(el);
    });
    this.stage.append(frag);
    this.stage.append(labels);
    this.setBreakpoints([...this.breakpoints]);
    this.setCurrent(this.currentPc, false);
    this.statsText = `${blocks.length} blocks, ${data.edges.length} edges, ${data.instruction_count} instructions`;
    this.placed = false;
    this.place();
    // Force style and layout now so the time covers what the browser has to do.
    void this.stage.getBoundingClientRect();
    const t3 = performance.now();
    this.timing = { measure: t1 - t0, layout: t2 - t1, dom: t3 - t2, total: t3 - t0, stats: layout.stats };
    this.root.dataset.drawMs = this.timing.total.toFixed(1);
    return this.timing;
  }

  uid() {
    if (!this.uidValue) this.uidValue = Math.random().toString(36).slice(2, 9);
    return this.uidValue;
  }

  setBreakpoints(pcs) {
    this.breakpoints = new Set(pcs.map(Number));
    for (const [pc, el] of this.instEls) el.classList.toggle('il-bp', this.breakpoints.has(pc));
  }

  // The instruction at `pc` (or the head of the block whose marker is at `pc`).
  currentEl(pc) { return this.instEls.get(pc) || this.headEls.get(pc); }

  setCurrent(pc, reveal = true) {
    const old = this.currentEl(this.currentPc);
    if (old) old.classList.remove('il-current');
    for (const b of this.blockEls) b.classList.remove('il-current-block');
    this.currentPc = pc;
    const el = this.currentEl(pc);
    if (el) {
      el.classList.add('il-current');
      el.parentElement.classList.add('il-current-block');
      if (reveal) this.reveal(pc);
    }
  }

  // Pans (keeping the zoom, at least readable) so that the instruction at `pc` is in view,
  // its block's left edge too when the block is wider than the viewport.
  reveal(pc) {
    const el = this.currentEl(pc);
    if (!el || !this.layout) return;
    const block = el.parentElement;
    const r = this.viewport.getBoundingClientRect();
    if (this.scale < 0.5) this.scale = READABLE;
    const y = parseFloat(block.style.top) + el.offsetTop;
    this.showBlock(parseFloat(block.style.left), block.offsetWidth, 0, r);
    this.ty = r.height / 3 - y * this.scale;
    this.hint = '';
    this.apply();
  }
}

// The box around everything the layout places (nodes, route points, labels).
function graphBounds(layout) {
  let x0 = 0, y0 = 0, x1 = layout.width || 1, y1 = layout.height || 1;
  const take = (x, y, w = 0, hh = 0) => {
    x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x + w); y1 = Math.max(y1, y + hh);
  };
  for (const n of layout.nodes) take(n.x, n.y, n.width, n.height);
  for (const e of layout.edges) {
    if (!e) continue;
    for (const [x, y] of e.points || []) take(x, y);
    if (e.label) take(e.label.x, e.label.y, e.label.width || 0, e.label.height || 0);
  }
  return { x0, y0, x1, y1 };
}

function edgeKind(e, route) {
  if (route.reversed || route.selfLoop) return 'back';
  if (e.kind === 'yield' || e.kind === 'resume') return 'yield';
  if (e.branch === 'true') return 'true';
  if (e.branch === 'false') return 'false';
  return 'branch';
}

// A smooth path through the route's points: vertical S-curves between layers.
function pathData(points, selfLoop) {
  if (selfLoop) return 'M' + points.map((p) => p.join(',')).join(' L');
  let d = `M${points[0][0]},${points[0][1]}`;
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1];
    const [x1, y1] = points[i];
    if (x0 === x1) { d += ` L${x1},${y1}`; continue; }
    const my = (y0 + y1) / 2;
    d += ` C${x0},${my} ${x1},${my} ${x1},${y1}`;
  }
  return d;
}
