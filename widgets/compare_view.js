// The CompareView widget: one bar per paired dispatch of two runs (largest relative
// error of its written bindings, log scale; red beyond tolerance, the first
// divergence marked), and for the clicked dispatch both sides' bindings with the
// elements that differ beyond tolerance highlighted (data from Python:
// iree_lab.views.compare_data; values laid out like HALView's binding contents).
import { h, svg } from './common.js';

const FLOOR = 1e-12; // exact agreement is drawn at the floor of the scale

function svgWith(tag, attrs, ...children) {
  const e = svg(tag, attrs);
  e.append(...children);
  return e;
}

// log10 position of an error; null (NaN/Inf difference) is drawn above the top.
export function barLevel(err, top) {
  if (err === null) return top + 1;
  return Math.log10(Math.max(err, FLOOR));
}

function render({ model, el }) {
  // il-hal: HALView's styles for binding contents (values, highlighted elements).
  el.classList.add('iree-lab', 'il-hal', 'il-compare');
  const summary = h('div', { class: 'il-dim' });
  const chart = h('div', { style: { overflowX: 'auto' } });
  const title = h('div', { class: 'il-detail-title' });
  const contents = h('div', { style: { overflow: 'auto', maxHeight: model.get('height') + 'px' } });
  el.append(summary, chart, title, contents);

  function select(i) {
    if (model.get('selected') === i) return;
    model.set('selected', i);
    model.save_changes();
  }

  function drawChart() {
    const d = model.get('data') || {};
    const rows = d.dispatches || [];
    summary.textContent = `A: ${d.a}  B: ${d.b}  @${d.function} \u00b7 ${d.counts ? d.counts.join(' / ') : 0} dispatches \u00b7 ` +
      (d.verdict || []).join(' \u00b7 ');
    chart.textContent = '';
    const bottom = Math.log10(FLOOR);
    const errs = rows.map((r) => r.max_rel).filter((x) => x !== null && x > 0);
    const top = Math.max(0, Math.ceil(Math.log10(Math.max(...errs, 1))));
    const bw = 14, gap = 4, height = 160, pad = 36;
    const width = pad + rows.length * (bw + gap) + 10;
    const y = (v) => 10 + (height - 20) * (1 - (v - bottom) / (top + 1 - bottom));
    const root = svg('svg', { width, height: height + 16, class: 'il-compare-chart' });
    for (let p = bottom; p <= top; p += 3) {
      root.append(svg('line', { x1: pad, x2: width, y1: y(p), y2: y(p), stroke: '#ddd' }));
      root.append(svgWith('text', { x: 2, y: y(p) + 4, 'font-size': 10, fill: '#888' }, `1e${p}`));
    }
    rows.forEach((r, i) => {
      const x = pad + i * (bw + gap);
      const level = barLevel(r.max_rel, top);
      const color = r.outputs_agree ? (r.inputs_agree ? '#4a8' : '#9ab') : (r.inputs_agree ? '#d33' : '#e9a');
      const bar = svgWith('rect', {
        x, y: y(level), width: bw, height: Math.max(1, y(bottom) - y(level)), fill: color,
        stroke: r.ordinal === model.get('selected') ? '#000' : 'none', 'stroke-width': 2,
        class: 'il-compare-bar', 'data-ordinal': r.ordinal, cursor: 'pointer',
      }, svgWith('title', {}, `dispatch ${r.ordinal} ${r.export_a}\nmax rel ${r.max_rel === null ? 'NaN/Inf' : r.max_rel}, ` +
        `max abs ${r.max_abs === null ? 'NaN/Inf' : r.max_abs}\n${r.differing}/${r.compared} differ` +
        (r.inputs_agree ? '' : '; inputs differ')));
      bar.addEventListener('click', () => select(r.ordinal));
      root.append(bar);
      root.append(svgWith('text', { x: x + bw / 2, y: height + 12, 'font-size': 9, 'text-anchor': 'middle', fill: '#666' }, String(r.ordinal)));
      if (r.first_divergence) root.append(svgWith('text', { x: x + bw / 2, y: 9, 'font-size': 10, 'text-anchor': 'middle', fill: '#d33' }, '\u25bc'));
    });
    chart.append(root);
  }

  function values(list, differ, start, count) {
    const cell = h('td', { class: 'il-mono' });
    for (let i = start; i < Math.min(start + count, list.length); i++) {
      cell.append(h('span', { class: 'il-val' + (differ.has(i) ? ' il-changed' : ''), title: `[${i}]`, dataset: { index: i } }, list[i]));
    }
    return cell;
  }

  function drawBinding(b) {
    const err = (x) => (x === null ? 'NaN/Inf' : x.toPrecision(3));
    const head = h('div', { class: 'il-hal-binding-head' }, h('b', {}, `binding ${b.binding}`), ' ',
      h('span', { class: 'il-dim' }, b.role === 'alias' ? `same range as binding ${b.alias_of}` :
        `${b.role}, ${b.element}, ${b.differing}/${b.compared} differ, max abs ${err(b.max_abs)}, max rel ${err(b.max_rel)}` +
        (b.first_index === null ? '' : `, first at [${b.first_index}]`) + (b.nan || b.inf ? `, NaN ${b.nan} Inf ${b.inf}` : '')),
      b.note ? h('span', { class: 'il-note' }, ' ' + b.note) : null);
    const box = h('div', { class: 'il-hal-binding', dataset: { binding: b.binding } }, head);
    if (!b.a.length) return box;
    const differ = new Set(b.differ);
    const table = h('table', { class: 'il-table il-hal-values' }, h('tr', {}, h('th', {}, ''), h('th', {}, 'A'), h('th', {}, 'B')));
    const per = b.element === 'hex' ? 16 : 8;
    for (let start = 0; start < b.a.length; start += per) {
      table.append(h('tr', {}, h('td', { class: 'il-mono il-dim' }, `[${start}]`), values(b.a, differ, start, per), values(b.b, differ, start, per)));
    }
    box.append(table);
    return box;
  }

  function drawDetail() {
    const d = model.get('detail') || {};
    contents.textContent = '';
    if (!d.bindings) {
      title.textContent = 'Click a bar to see both sides of a dispatch.';
      return;
    }
    title.textContent = `dispatch ${d.ordinal}: ${d.export_a}` + (d.export_b !== d.export_a ? ` / ${d.export_b}` : '') +
      ` \u2014 outputs ${d.outputs_agree ? 'agree' : 'differ'}, inputs ${d.inputs_agree ? 'agree' : 'differ'}`;
    for (const b of d.bindings) contents.append(drawBinding(b));
    el.dataset.detail = String(d.ordinal);
    // Bring the first differing element into view (once laid out).
    requestAnimationFrame(() => {
      const first = contents.querySelector('.il-changed');
      if (first) contents.scrollTop += first.getBoundingClientRect().top - contents.getBoundingClientRect().top - 60;
    });
  }

  drawChart();
  drawDetail();
  const handlers = { 'change:data': drawChart, 'change:detail': drawDetail, 'change:selected': drawChart };
  for (const [k, f] of Object.entries(handlers)) model.on(k, f);
  return () => { for (const [k, f] of Object.entries(handlers)) model.off(k, f); };
}

export default { render };
