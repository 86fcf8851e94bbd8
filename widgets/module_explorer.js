// The ModuleExplorer widget: a tree of everything in a module, search, and a detail
// pane whose HTML comes from Python (iree_lab.views.module) for the selected node.
// Functions get a second tab with their CFG (read-only here; CFGView edits breakpoints).
import { h, debounce } from './common.js';
import { CFGRenderer } from './cfg_render.js';

function render({ model, el }) {
  el.classList.add('iree-lab', 'tex2jax_ignore', 'mathjax_ignore', 'il-explorer');
  const search = h('input', { class: 'il-search', type: 'search', placeholder: 'search names, instructions, strings\u2026',
    'aria-label': 'search the module' });
  const results = h('div', { class: 'il-results', hidden: true });
  const tree = h('div', { class: 'il-tree', role: 'tree' });
  const left = h('div', { class: 'il-explorer-left', style: { height: model.get('height') + 'px' } }, search, results, tree);
  const detailTitle = h('div', { class: 'il-detail-title' });
  const tabs = h('div', { class: 'il-tabs', hidden: true });
  const detailBody = h('div', { class: 'il-detail-body' });
  const cfgHost = h('div', { class: 'il-detail-cfg', hidden: true });
  const right = h('div', { class: 'il-explorer-right', style: { height: model.get('height') + 'px' } }, detailTitle, tabs, detailBody, cfgHost);
  el.append(h('div', { class: 'il-explorer-main' }, left, right));

  const rows = new Map(); // node id -> row element
  const expanded = new Set(model.get('expanded'));

  function select(id) {
    model.set('selected', id);
    model.save_changes();
    markSelected(id);
    detailBody.classList.add('il-loading');
  }

  function markSelected(id) {
    for (const r of tree.querySelectorAll('.il-node-row.il-selected')) r.classList.remove('il-selected');
    const base = (id || '').split('@')[0];
    const row = rows.get(base);
    if (row) { row.classList.add('il-selected'); revealRow(row); }
  }

  function revealRow(row) {
    // Expand every ancestor so the row is visible, then scroll to it.
    let p = row.parentElement.parentElement;
    while (p && p !== tree) {
      if (p.classList.contains('il-children')) p.parentElement.classList.remove('il-collapsed');
      p = p.parentElement;
    }
    row.scrollIntoView({ block: 'nearest' });
  }

  function buildNode(node, depth) {
    const hasChildren = Array.isArray(node.children) && node.children.length > 0;
    const li = h('div', { class: `il-node il-kind-${node.kind}` + (hasChildren && !expanded.has(node.id) ? ' il-collapsed' : ''),
      role: 'treeitem' });
    const twisty = h('span', { class: 'il-twisty' }, hasChildren ? '\u25B8' : '');
    const row = h('div', { class: 'il-node-row', dataset: { node: node.id }, style: { paddingLeft: (4 + depth * 14) + 'px' }, title: node.detail || '' },
      twisty, h('span', { class: 'il-node-label' }, node.label),
      node.detail ? h('span', { class: 'il-node-detail' }, node.detail) : null);
    row.addEventListener('click', (ev) => {
      if (hasChildren && (ev.target === twisty || li.classList.contains('il-collapsed'))) {
        li.classList.toggle('il-collapsed');
      }
      if (node.kind !== 'more') select(node.id);
    });
    li.append(row);
    if (node.kind !== 'more') rows.set(node.id, row);
    if (hasChildren) {
      const kids = h('div', { class: 'il-children', role: 'group' });
      for (const c of node.children) kids.append(buildNode(c, depth + 1));
      li.append(kids);
    }
    return li;
  }

  function drawTree() {
    tree.textContent = '';
    rows.clear();
    for (const n of model.get('tree')) tree.append(buildNode(n, 0));
    markSelected(model.get('selected'));
  }

  let cfg = null;
  let activeTab = 'listing';
  function showTab(name) {
    activeTab = name;
    for (const b of tabs.children) b.classList.toggle('il-active', b.dataset.tab === name);
    detailBody.hidden = name !== 'listing';
    cfgHost.hidden = name !== 'cfg';
    if (name === 'cfg') {
      const graph = model.get('graph');
      if (!cfg) cfg = new CFGRenderer(cfgHost, { height: model.get('height') - 80 });
      if (graph && graph.blocks && cfg.data !== graph) cfg.draw(graph);
    }
  }
  tabs.append(
    h('button', { class: 'il-tab il-active', dataset: { tab: 'listing' }, onclick: () => showTab('listing') }, 'details'),
    h('button', { class: 'il-tab', dataset: { tab: 'cfg' }, onclick: () => showTab('cfg') }, 'CFG'));

  function drawDetail() {
    const d = model.get('detail') || {};
    detailBody.classList.remove('il-loading');
    detailTitle.textContent = d.title || '';
    detailBody.innerHTML = d.html || '';
    const graph = model.get('graph');
    tabs.hidden = !(graph && graph.blocks);
    if (tabs.hidden) showTab('listing');
    else if (activeTab === 'cfg') showTab('cfg');
    // Links to other nodes and the hex pager.
    for (const a of detailBody.querySelectorAll('[data-node].il-link')) {
      a.addEventListener('click', () => select(a.dataset.node));
    }
    for (const p of detailBody.querySelectorAll('.il-pager')) {
      const offset = Number(p.dataset.offset), page = Number(p.dataset.page), size = Number(p.dataset.size);
      const go = (o) => select(`${p.dataset.node}@${o}`);
      p.prepend(h('button', { class: 'il-btn', disabled: offset <= 0, onclick: () => go(Math.max(0, offset - page)) }, '\u25C0'));
      p.append(h('button', { class: 'il-btn', disabled: offset + page >= size, onclick: () => go(offset + page) }, '\u25B6'));
    }
    const pc = d.pc;
    if (pc !== undefined && pc !== null) {
      const line = detailBody.querySelector(`.il-line[data-pc="${pc}"]`);
      if (line) { line.classList.add('il-hit'); line.scrollIntoView({ block: 'center' }); }
    }
  }

  function drawResults() {
    const items = model.get('results');
    const q = model.get('query');
    results.textContent = '';
    results.hidden = !q;
    if (!q) return;
    results.append(h('div', { class: 'il-results-head il-dim' }, items.length ? `${items.length} matches` : 'no matches'));
    for (const r of items) {
      results.append(h('div', { class: 'il-result', dataset: { node: r.id }, onclick: () => select(r.pc !== undefined ? `${r.id}#${r.pc}` : r.id) },
        h('span', { class: 'il-node-label' }, r.label), ' ', h('span', { class: 'il-result-context il-mono' }, r.context)));
    }
  }

  search.value = model.get('query');
  search.addEventListener('input', debounce(() => { model.set('query', search.value); model.save_changes(); }, 200));

  drawTree();
  drawDetail();
  drawResults();
  const handlers = {
    'change:tree': drawTree, 'change:detail': drawDetail, 'change:results': drawResults,
    'change:selected': () => markSelected(model.get('selected')),
    'change:graph': () => { if (activeTab === 'cfg') showTab('cfg'); },
  };
  for (const [k, f] of Object.entries(handlers)) model.on(k, f);
  return () => { for (const [k, f] of Object.entries(handlers)) model.off(k, f); };
}

export default { render };
