// The HALView widget: submissions (queue operations with their wait/signal fences
// and values, dispatches nested under their execute), command buffers, and the
// detail of the selected item from Python (iree_lab.views.hal_data): facts, and for
// a dispatch each binding's contents before and after it ran, changed elements
// highlighted, with an element-type choice per binding.
import { h } from './common.js';

function timepoints(list, relation) {
  if (!list.length) return '\u2014';
  return list.map((t) => `s${t.semaphore}${relation}${t.value}`).join(' ') +
    (list[0].fence ? ` (${list[0].fence.replace(/^hal\./, '')})` : '');
}

function render({ model, el }) {
  el.classList.add('iree-lab', 'il-hal');
  const summary = h('div', { class: 'il-hal-summary il-dim' });
  const list = h('div', { class: 'il-hal-list' });
  const title = h('div', { class: 'il-detail-title il-hal-title' });
  const facts = h('div', { class: 'il-hal-facts' });
  const contents = h('div', { class: 'il-hal-contents' });
  const detail = h('div', { class: 'il-hal-detail' }, title, facts, contents);
  const main = h('div', { class: 'il-hal-main', style: { height: model.get('height') + 'px' } }, list, detail);
  el.append(summary, main);

  function select(id) {
    if (model.get('selected') === id) return;
    model.set('selected', id);
    model.save_changes();
  }
  function row(id, cls, ...children) {
    return h('div', { class: `il-hal-row ${cls}`, dataset: { id }, onclick: () => select(id) }, ...children);
  }

  function drawList() {
    const d = model.get('data') || {};
    const counts = d.counts || {};
    const n = (count, noun, plural) => `${count || 0} ${count === 1 ? noun : plural}`;
    summary.textContent = `${n(counts.operations, 'queue operation', 'queue operations')} \u00b7 ` +
      `${n(counts.dispatches, 'dispatch', 'dispatches')} \u00b7 ` +
      `${n(counts.command_buffers, 'command buffer', 'command buffers')} \u00b7 ${n(counts.calls, 'hal call', 'hal calls')}` +
      (d.capturing ? ' \u00b7 buffer contents captured' : ' \u00b7 buffer contents not captured');
    list.textContent = '';
    const dispatches = new Map((d.dispatches || []).map((x) => [x.id, x]));
    list.append(h('div', { class: 'il-hal-group' }, `Submissions (${(d.submissions || []).length})`));
    for (const s of d.submissions || []) {
      const bad = s.status !== 'OK' && s.status !== 'pending';
      list.append(row(s.id, 'il-hal-op' + (bad ? ' il-hal-failed' : ''),
        h('span', { class: 'il-mono il-hal-name' }, s.name),
        h('span', { class: 'il-hal-kind' }, s.kind),
        h('span', { class: 'il-hal-status' + (bad ? ' il-note' : '') }, s.status),
        h('span', { class: 'il-hal-target il-dim' }, s.target),
        h('span', { class: 'il-mono il-hal-wait', title: 'waits for' }, 'wait ' + timepoints(s.wait, '\u2265')),
        h('span', { class: 'il-mono il-hal-signal', title: 'signals' }, 'signal ' + timepoints(s.signal, '='))));
      for (const ref of s.dispatches) {
        const x = dispatches.get(ref);
        if (x) list.append(dispatchRow(x));
      }
    }
    // Inline HAL (hal_loader) dispatches run outside any queue operation.
    const inline = (d.dispatches || []).filter((x) => x.op === null);
    if (inline.length) {
      list.append(h('div', { class: 'il-hal-group' }, `Inline dispatches (${inline.length})`));
      for (const x of inline) list.append(dispatchRow(x));
    }
    list.append(h('div', { class: 'il-hal-group' }, `Command buffers (${(d.command_buffers || []).length})`));
    for (const cb of d.command_buffers || []) {
      list.append(row(cb.id, 'il-hal-cb',
        h('span', { class: 'il-mono il-hal-name' }, `cb ${cb.name}`),
        h('span', { class: 'il-dim' }, `${cb.commands.length} commands, ${cb.dispatches} dispatch${cb.dispatches === 1 ? '' : 'es'}` +
          (cb.executions.length ? `; executed by ${cb.executions.join(', ')}` : '; never executed'))));
      for (const c of cb.commands) {
        list.append(h('div', { class: 'il-hal-command il-dim' },
          h('span', { class: 'il-mono' }, String(c.index).padStart(3)), ' ', c.kind, ' ',
          h('span', { class: 'il-mono' }, c.text)));
      }
    }
    markSelected();
  }

  function dispatchRow(x) {
    return row(x.id, 'il-hal-dispatch',
      h('span', { class: 'il-hal-kind' }, `dispatch ${x.index}`),
      h('span', { class: 'il-mono il-hal-export' }, x.export),
      h('span', { class: 'il-mono il-dim' }, x.workgroups),
      h('span', { class: 'il-mono il-dim il-hal-bindings' }, x.bindings.join(' ')),
      x.captured ? h('span', { class: 'il-hal-captured', title: 'buffer contents captured' }, '\u25d1') : null);
  }

  function markSelected() {
    const id = model.get('selected');
    for (const r of list.querySelectorAll('.il-hal-row')) r.classList.toggle('il-selected', r.dataset.id === id);
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
    'change:data': drawList, 'change:detail': drawDetail, 'change:selected': markSelected,
  };
  for (const [k, f] of Object.entries(handlers)) model.on(k, f);
  return () => { for (const [k, f] of Object.entries(handlers)) model.off(k, f); };
}

export default { render };
