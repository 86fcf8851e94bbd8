// The HALView widget: submissions (queue operations with their wait/signal fences
// and values, dispatches nested under their execute), command buffers, and the
// detail of the selected item from Python (iree_lab.views.hal_data): facts, and for
// a dispatch each binding's contents before and after it ran, changed elements
// highlighted, with an element-type choice per binding.
import { h, debounce } from './common.js';

function timepoints(list, relation) {
  if (!list.length) return '\u2014';
  return list.map((t) => `s${t.semaphore}${relation}${t.value}`).join(' ') +
    (list[0].fence ? ` (${list[0].fence.replace(/^hal\./, '')})` : '');
}

const ROW_H = 20;     // every list row is this tall (CSS), so the list can be virtual
const OVERSCAN = 30;  // rows drawn above and below the visible ones

const FILTERS = [
  ['all', 'everything'], ['submissions', 'submissions'], ['dispatches', 'dispatches'],
  ['command buffers', 'command buffers'], ['calls', 'hal calls'], ['failed', 'failed'],
];

function render({ model, el }) {
  el.classList.add('iree-lab', 'tex2jax_ignore', 'mathjax_ignore', 'il-hal');
  const summary = h('div', { class: 'il-hal-summary il-dim' });
  const search = h('input', { class: 'il-search il-hal-search', type: 'search', placeholder: 'search names, exports, fences, arguments\u2026',
    'aria-label': 'search the recording' });
  const filter = h('select', { class: 'il-select il-hal-filter', 'aria-label': 'show' },
    ...FILTERS.map(([v, t]) => h('option', { value: v }, t)));
  const count = h('div', { class: 'il-hal-count il-dim' });
  const windowEl = h('div', { class: 'il-hal-window', style: { position: 'absolute', left: '0', top: '0', minWidth: '100%' } });
  const spacer = h('div', { class: 'il-hal-rows' }, windowEl);
  const list = h('div', { class: 'il-hal-list' }, spacer);
  const side = h('div', { class: 'il-hal-side' }, h('div', { class: 'il-hal-tools' }, search, filter), count, list);
  const title = h('div', { class: 'il-detail-title il-hal-title' });
  const facts = h('div', { class: 'il-hal-facts' });
  const contents = h('div', { class: 'il-hal-contents' });
  const detail = h('div', { class: 'il-hal-detail' }, title, facts, contents);
  const main = h('div', { class: 'il-hal-main', style: { height: model.get('height') + 'px' } }, side, detail);
  el.append(summary, main);

  function select(id) {
    if (model.get('selected') === id) return;
    model.set('selected', id);
    model.save_changes();
  }

  // Every row of the recording as data: {kind, id?, text (searched), build()}. Only the rows
  // in view become DOM, so thousands of hal calls cost what a screenful does.
  let allRows = [];
  let rows = [];
  function buildRows() {
    const d = model.get('data') || {};
    const out = [];
    const dispatches = new Map((d.dispatches || []).map((x) => [x.id, x]));
    const group = (text) => out.push({ kind: 'group', text, build: () => h('div', { class: 'il-hal-group' }, text) });
    const row = (id, cls, text, failed, children) => out.push({ kind: cls, id, text: text.toLowerCase(), failed,
      build: () => h('div', { class: `il-hal-row ${cls}` + (failed ? ' il-hal-failed' : ''), dataset: { id }, onclick: () => select(id), title: text }, ...children()) });
    const dispatchRow = (x) => {
      const failed = x.status && x.status !== 'OK';
      row(x.id, 'il-hal-dispatch', [`dispatch ${x.index}`, x.export, x.executable, x.workgroups, ...x.bindings].join(' '), failed, () => [
        h('span', { class: 'il-hal-kind' }, `dispatch ${x.index}`),
        h('span', { class: 'il-mono il-hal-export' }, x.export),
        h('span', { class: 'il-mono il-dim' }, x.workgroups),
        h('span', { class: 'il-mono il-dim il-hal-bindings' }, x.bindings.join(' ')),
        x.captured ? h('span', { class: 'il-hal-captured', title: 'buffer contents captured' }, '\u25d1') : null]);
    };
    group(`Submissions (${(d.submissions || []).length})`);
    for (const s of d.submissions || []) {
      const bad = s.status !== 'OK' && s.status !== 'pending';
      const wait = 'wait ' + timepoints(s.wait, '\u2265'), signal = 'signal ' + timepoints(s.signal, '=');
      row(s.id, 'il-hal-op', [s.name, s.kind, s.status, s.target, wait, signal].join(' '), bad, () => [
        h('span', { class: 'il-mono il-hal-name' }, s.name),
        h('span', { class: 'il-hal-kind' }, s.kind),
        h('span', { class: 'il-hal-status' + (bad ? ' il-note' : '') }, s.status),
        h('span', { class: 'il-hal-target il-dim' }, s.target),
        h('span', { class: 'il-mono il-hal-wait', title: 'waits for' }, wait),
        h('span', { class: 'il-mono il-hal-signal', title: 'signals' }, signal)]);
      for (const ref of s.dispatches) {
        const x = dispatches.get(ref);
        if (x) dispatchRow(x);
      }
    }
    // Inline HAL (hal_loader) dispatches run outside any queue operation.
    const inline = (d.dispatches || []).filter((x) => x.op === null);
    if (inline.length) {
      group(`Inline dispatches (${inline.length})`);
      inline.forEach(dispatchRow);
    }
    group(`Command buffers (${(d.command_buffers || []).length})`);
    for (const cb of d.command_buffers || []) {
      const about = `${cb.commands.length} commands, ${cb.dispatches} dispatch${cb.dispatches === 1 ? '' : 'es'}` +
        (cb.executions.length ? `; executed by ${cb.executions.join(', ')}` : '; never executed');
      row(cb.id, 'il-hal-cb', `cb ${cb.name} ${about}`, false, () => [
        h('span', { class: 'il-mono il-hal-name' }, `cb ${cb.name}`), h('span', { class: 'il-dim' }, about)]);
      for (const c of cb.commands) {
        const text = `${c.kind} ${c.text}`;
        out.push({ kind: 'il-hal-command', text: text.toLowerCase(), owner: cb.id,
          build: () => h('div', { class: 'il-hal-command il-dim', title: text },
            h('span', { class: 'il-mono' }, String(c.index).padStart(3)), ' ', c.kind, ' ', h('span', { class: 'il-mono' }, c.text)) });
      }
    }
    group(`hal calls (${(d.calls || []).length})`);
    for (const c of d.calls || []) {
      const failed = c.status !== 'OK';
      row(c.id, 'il-hal-call', `${c.name} ${c.args} ${c.status}`, failed, () => [
        h('span', { class: 'il-mono il-dim' }, String(c.index).padStart(5)),
        h('span', { class: 'il-mono il-hal-name' }, c.name),
        failed ? h('span', { class: 'il-note' }, c.status) : null,
        h('span', { class: 'il-mono il-dim' }, c.args)]);
    }
    allRows = out;
  }

  const SHOWS = {
    all: () => true,
    submissions: (r) => r.kind === 'il-hal-op' || r.kind === 'il-hal-dispatch',
    dispatches: (r) => r.kind === 'il-hal-dispatch',
    'command buffers': (r) => r.kind === 'il-hal-cb' || r.kind === 'il-hal-command',
    calls: (r) => r.kind === 'il-hal-call',
    failed: (r) => r.failed,
  };
  function applyFilter() {
    const q = search.value.trim().toLowerCase();
    const shows = SHOWS[filter.value] || SHOWS.all;
    const filtering = q || filter.value !== 'all';
    rows = allRows.filter((r) => (r.kind === 'group' ? !filtering : shows(r) && (!q || r.text.includes(q))));
    const matches = rows.filter((r) => r.kind !== 'group').length;
    count.textContent = filtering ? `${matches} of ${allRows.filter((r) => r.kind !== 'group').length} rows` : `${matches} rows`;
    spacer.style.height = rows.length * ROW_H + 'px';
    drawWindow(true);
  }

  let drawn = [-1, -1];
  function drawWindow(force = false) {
    const first = Math.max(0, Math.floor(list.scrollTop / ROW_H) - OVERSCAN);
    const last = Math.min(rows.length, Math.ceil((list.scrollTop + (list.clientHeight || model.get('height'))) / ROW_H) + OVERSCAN);
    if (!force && first === drawn[0] && last === drawn[1]) return;
    drawn = [first, last];
    windowEl.style.top = first * ROW_H + 'px';
    windowEl.textContent = '';
    for (let i = first; i < last; i++) windowEl.append(rows[i].build());
    markSelected();
  }
  let pending = false;
  list.addEventListener('scroll', () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; drawWindow(); });
  });
  search.addEventListener('input', debounce(applyFilter, 120));
  filter.addEventListener('change', applyFilter);

  // Scrolls the list so that the row of `id` is in view (a selection made from Python).
  function reveal(id) {
    const i = rows.findIndex((r) => r.id === id);
    if (i < 0) return;
    const top = i * ROW_H;
    if (top < list.scrollTop || top + ROW_H > list.scrollTop + list.clientHeight) {
      list.scrollTop = Math.max(0, top - list.clientHeight / 3);
      drawWindow();
    }
  }

  function drawList() {
    const d = model.get('data') || {};
    const counts = d.counts || {};
    const n = (c, noun, plural) => `${c || 0} ${c === 1 ? noun : plural}`;
    summary.textContent = `${n(counts.operations, 'queue operation', 'queue operations')} \u00b7 ` +
      `${n(counts.dispatches, 'dispatch', 'dispatches')} \u00b7 ` +
      `${n(counts.command_buffers, 'command buffer', 'command buffers')} \u00b7 ${n(counts.calls, 'hal call', 'hal calls')}` +
      (d.capturing ? ' \u00b7 buffer contents captured' : ' \u00b7 buffer contents not captured');
    buildRows();
    applyFilter();
  }

  function markSelected() {
    const id = model.get('selected');
    for (const r of windowEl.querySelectorAll('.il-hal-row')) r.classList.toggle('il-selected', r.dataset.id === id);
  }

  function valuesRow(values, changed, start, count, cls) {
    const cell = h('td', { class: `il-mono ${cls}` });
    for (let i = start; i < Math.min(start + count, values.length); i++) {
      cell.append(h('span', { class: 'il-val' + (changed.has(i) ? ' il-changed' : ''), title: `[${i}]`, dataset: { index: i } }, values[i]));
    }
    return cell;
  }

  function drawBinding(b) {
    const choices = model.get('element_choices') || [];
    const select = h('select', { class: 'il-select', 'aria-label': `element type of binding ${b.binding}` });
    for (const c of choices) select.append(h('option', { value: c }, c));
    if (!choices.includes(b.element)) select.append(h('option', { value: b.element }, b.element));
    select.value = b.element;
    select.addEventListener('change', () => {
      model.set('element_types', { ...model.get('element_types'), [String(b.binding)]: select.value });
      model.save_changes();
    });
    const head = h('div', { class: 'il-hal-binding-head' },
      h('b', {}, `binding ${b.binding}`), ' ',
      h('span', { class: 'il-mono' }, `${b.buffer} ${b.range}`), ' \u00b7 ', select, ' ',
      h('span', { class: 'il-dim' }, `${b.source}; ${b.count} elements, ${b.changed.length} changed`),
      b.note ? h('span', { class: 'il-note' }, ' ' + b.note) : null);
    const box = h('div', { class: 'il-hal-binding', dataset: { binding: b.binding } }, head);
    if (!b.before.length) return box;
    const changed = new Set(b.changed);
    const table = h('table', { class: 'il-table il-hal-values' },
      h('tr', {}, h('th', {}, ''), h('th', {}, 'before'), h('th', {}, 'after')));
    const per = Math.max(1, b.row);
    for (let start = 0; start < b.before.length; start += per) {
      table.append(h('tr', {},
        h('td', { class: 'il-mono il-dim' }, `[${start}]`),
        valuesRow(b.before, changed, start, per, 'il-before'),
        valuesRow(b.after, changed, start, per, 'il-after')));
    }
    box.append(table);
    return box;
  }

  function drawDetail() {
    const d = model.get('detail') || {};
    title.textContent = d.title || 'Select a submission, a dispatch or a command buffer.';
    facts.innerHTML = d.html || '';
    contents.textContent = '';
    if (d.note) contents.append(h('div', { class: 'il-note' }, d.note));
    for (const b of d.contents || []) contents.append(drawBinding(b));
    el.dataset.detail = d.id || '';
    markSelected();
  }

  drawList();
  drawDetail();
  const handlers = {
    'change:data': drawList, 'change:detail': drawDetail,
    'change:selected': () => { markSelected(); reveal(model.get('selected')); },
  };
  for (const [k, f] of Object.entries(handlers)) model.on(k, f);
  return () => { for (const [k, f] of Object.entries(handlers)) model.off(k, f); };
}

export default { render };
