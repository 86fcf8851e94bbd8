// The BlobView widget: one embedded executable. Facts (HTML from iree_lab.views.executables),
// every export in a searchable list (a click shows its code), the code listing of the chosen
// export, a paged hex view, and for VMVX the nested VM module in a ModuleExplorer (a child
// widget).
import { h } from './common.js';

async function render({ model, el, host }) {
  el.classList.add('iree-lab', 'tex2jax_ignore', 'mathjax_ignore', 'il-blob');
  const title = h('div', { class: 'il-detail-title' });
  const info = h('div', { class: 'il-blob-info' });
  const select = h('select', { class: 'il-select', 'aria-label': 'export' });
  const listing = h('div', { class: 'il-blob-listing' });
  const hexNav = h('div', { class: 'il-pager' });
  const hex = h('pre', { class: 'il-hex il-mono' });
  const nested = h('div', { class: 'il-blob-nested' });
  const tabsEl = h('div', { class: 'il-tabs' });
  const exportSearch = h('input', { class: 'il-search', type: 'search', placeholder: 'search exports (name, symbol, source, dispatch site)\u2026',
    'aria-label': 'search exports' });
  const exportCount = h('span', { class: 'il-dim il-blob-export-count' });
  const exportTable = h('div', { class: 'il-blob-exports-table' });
  const panes = {
    overview: h('div', { class: 'il-blob-pane' }, info),
    exports: h('div', { class: 'il-blob-pane' }, h('div', { class: 'il-blob-exports-tools' }, exportSearch, exportCount), exportTable),
    code: h('div', { class: 'il-blob-pane' }, h('div', {}, 'export ', select), listing),
    hex: h('div', { class: 'il-blob-pane' }, hexNav, hex),
    module: h('div', { class: 'il-blob-pane' }, nested),
  };
  const body = h('div', { class: 'il-blob-body', style: { maxHeight: model.get('height') + 'px' } }, ...Object.values(panes));
  el.append(title, tabsEl, body);

  function show(name) {
    for (const [k, p] of Object.entries(panes)) p.hidden = k !== name;
    for (const b of tabsEl.children) b.classList.toggle('il-active', b.dataset.tab === name);
  }
  function drawTabs() {
    tabsEl.textContent = '';
    const names = ['overview', 'exports', 'code', 'hex'];
    if (model.get('nested')) names.push('module');
    for (const n of names) tabsEl.append(h('button', { class: 'il-tab', dataset: { tab: n }, onclick: () => show(n) }, n === 'module' ? 'nested module' : n));
  }

  function drawInfo() {
    title.textContent = model.get('title');
    info.innerHTML = model.get('info_html');
  }
  function drawExports() {
    select.textContent = '';
    model.get('exports').forEach((e, i) => select.append(h('option', { value: i }, `${e.ordinal}: ${e.name}`)));
    select.value = String(model.get('export_index'));
    drawExportTable();
  }
  function chooseExport(i) {
    model.set('export_index', i);
    model.save_changes();
    show('code');
  }
  function drawExportTable() {
    const q = exportSearch.value.trim().toLowerCase();
    const all = model.get('exports');
    const current = model.get('export_index');
    const table = h('table', { class: 'il-table' }, h('tr', {},
      ...['#', 'name', 'workgroup size', 'bindings', 'constants', 'dispatched at', 'source'].map((t) => h('th', {}, t))));
    let shown = 0;
    all.forEach((e, i) => {
      const hay = [e.name, e.symbol, e.source, ...(e.dispatched_at || [])].join('\n').toLowerCase();
      if (q && !hay.includes(q)) return;
      shown++;
      table.append(h('tr', { class: 'il-export-row' + (i === current ? ' il-selected' : ''), dataset: { index: i }, onclick: () => chooseExport(i),
        title: e.symbol ? `symbol ${e.symbol}` : '' },
        h('td', {}, String(e.ordinal)), h('td', { class: 'il-mono' }, e.name),
        h('td', { class: 'il-mono' }, e.workgroup_size || ''),
        h('td', {}, e.bindings === null || e.bindings === undefined ? '' : String(e.bindings)),
        h('td', {}, e.constants === null || e.constants === undefined ? '' : String(e.constants)),
        h('td', { class: 'il-mono' }, (e.dispatched_at || []).join(', ')),
        h('td', { class: 'il-mono il-dim' }, e.source || '')));
    });
    exportCount.textContent = q ? `${shown} of ${all.length} exports` : `${all.length} exports`;
    exportTable.textContent = '';
    exportTable.append(table);
  }
  exportSearch.addEventListener('input', drawExportTable);
  select.addEventListener('change', () => { model.set('export_index', Number(select.value)); model.save_changes(); });
  function drawListing() { listing.innerHTML = model.get('listing_html'); }
  function drawHex() {
    const offset = model.get('hex_offset'), page = model.get('hex_page'), size = model.get('size');
    hex.textContent = model.get('hex_text');
    hexNav.textContent = '';
    const go = (o) => { model.set('hex_offset', o); model.save_changes(); };
    hexNav.append(
      h('button', { class: 'il-btn', disabled: offset <= 0, onclick: () => go(Math.max(0, offset - page)) }, '\u25C0'),
      ` bytes ${offset}..${Math.min(size, offset + page)} of ${size} `,
      h('button', { class: 'il-btn', disabled: offset + page >= size, onclick: () => go(offset + page) }, '\u25B6'));
  }
  async function drawNested() {
    nested.textContent = '';
    const ref = model.get('nested');
    if (!ref) return;
    if (!host || !host.getWidget) {
      nested.append(h('div', { class: 'il-note' }, 'display blob.nested to explore the nested module (this front-end cannot embed widgets)'));
      return;
    }
    try {
      // ipywidgets serialises the child as IPY_MODEL_<id>; anywidget's host wants anywidget:<id>.
      const id = String(ref).replace(/^IPY_MODEL_/, '').replace(/^anywidget:/, '');
      const child = await host.getWidget(`anywidget:${id}`);
      await child.render({ el: nested });
    } catch (err) {
      nested.append(h('div', { class: 'il-note' }, `nested module: ${err}`));
    }
  }

  drawTabs(); drawInfo(); drawExports(); drawListing(); drawHex();
  show('overview');
  await drawNested();
  const handlers = {
    'change:info_html': drawInfo, 'change:title': drawInfo, 'change:exports': drawExports,
    'change:export_index': drawExports, 'change:listing_html': drawListing,
    'change:hex_text': drawHex, 'change:hex_offset': drawHex,
    'change:nested': () => { drawTabs(); drawNested(); },
  };
  for (const [k, f] of Object.entries(handlers)) model.on(k, f);
  return () => { for (const [k, f] of Object.entries(handlers)) model.off(k, f); };
}

export default { render };
