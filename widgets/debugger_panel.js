// The DebuggerPanel widget: buttons and shortcuts send commands to the kernel, where the
// debugger core runs; the kernel answers with `state` (stop line, call stack, the selected
// frame's registers/refs/changes) and drives the embedded CFGView child (`cfg`:
// current_pc, breakpoints). Clicking an instruction in the CFG toggles a breakpoint in
// the kernel's debugger; clicking a frame selects it (`frame_level`).
import { h } from './common.js';

const COMMANDS = [
  // [command, label, title, keys]
  ['step', 'Step', 'step into (F11, s)', ['F11', 's']],
  ['over', 'Over', 'step over (F10, n)', ['F10', 'n']],
  ['out', 'Out', 'step out (Shift+F11, f)', ['Shift+F11', 'f']],
  ['continue', 'Continue', 'continue to a breakpoint or the end (F5, c)', ['F5', 'c']],
  ['back', 'Back', 'one instruction back in time (Shift+F10, b)', ['Shift+F10', 'b']],
  ['reverse', 'Reverse', 'reverse-continue: back to the previous breakpoint hit (Shift+F5, r)', ['Shift+F5', 'r']],
  ['restart', 'Restart', 'run again from the first instruction', []],
];
const VIEWS = ['all', 'raw', 'i32', 'i64', 'f32', 'f64'];

function keyName(ev) {
  const base = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
  return (ev.shiftKey && ev.key.length > 1 ? 'Shift+' : '') + base;
}

async function render({ model, el, host }) {
  el.classList.add('iree-lab', 'tex2jax_ignore', 'mathjax_ignore', 'il-debugger');
  el.tabIndex = 0;
  // JupyterLab must not treat our shortcut letters as notebook commands (b, c, ...).
  el.setAttribute('data-lm-suppress-shortcuts', 'true');

  const buttons = {};
  const keys = {};
  const toolbar = h('div', { class: 'il-dbg-toolbar' });
  for (const [cmd, label, title, ks] of COMMANDS) {
    buttons[cmd] = h('button', { class: 'il-btn il-dbg-btn', title, dataset: { command: cmd }, onclick: () => send(cmd) }, label);
    toolbar.append(buttons[cmd]);
    for (const k of ks) keys[k] = cmd;
  }
  const busy = h('span', { class: 'il-dbg-busy il-dim' });
  // A command that runs longer than a second (a continue through a model) gets a bar and
  // the time it has taken so far.
  const busyCount = h('span', { class: 'il-progress-count il-dim il-mono' });
  const busyBar = h('div', { class: 'il-progress il-indeterminate il-dbg-progress', hidden: true },
    h('div', { class: 'il-progress-track' }, h('div', { class: 'il-progress-fill' })), busyCount);
  toolbar.append(busy, busyBar);
  let busySince = 0;
  let busyTimer = null;
  function showBusy(on) {
    if (on && !busyTimer) {
      busySince = performance.now();
      busyTimer = setInterval(() => {
        const s = (performance.now() - busySince) / 1000;
        busyBar.hidden = s < 1;
        if (!busyBar.hidden) el.dataset.progressShown = '1';
        busyCount.textContent = `${s.toFixed(1)} s`;
      }, 200);
    } else if (!on && busyTimer) {
      el.dataset.lastRunMs = String(Math.round(performance.now() - busySince));
      clearInterval(busyTimer);
      busyTimer = null;
      busyBar.hidden = true;
    }
  }
  const status = h('div', { class: 'il-dbg-status il-mono' });
  const where = h('div', { class: 'il-dbg-where' });
  const cfgBox = h('div', { class: 'il-dbg-cfg' });
  const stackEl = h('div', { class: 'il-dbg-stack' });
  const viewSelect = h('select', { class: 'il-select il-dbg-view', 'aria-label': 'register view' },
    ...VIEWS.map((v) => h('option', { value: v }, v)));
  const regsEl = h('div', { class: 'il-dbg-registers' });
  const refsEl = h('div', { class: 'il-dbg-refs' });
  const changesEl = h('div', { class: 'il-dbg-changes' });
  const bpsEl = h('div', { class: 'il-dbg-breakpoints' });
  const side = h('div', { class: 'il-dbg-side', style: { maxHeight: (model.get('height') + 40) + 'px' } },
    h('div', { class: 'il-dbg-head' }, 'Call stack'), stackEl,
    h('div', { class: 'il-dbg-head' }, 'Registers ', viewSelect), regsEl,
    h('div', { class: 'il-dbg-head' }, 'Refs'), refsEl,
    h('div', { class: 'il-dbg-head' }, 'Changed since the last stop'), changesEl,
    h('div', { class: 'il-dbg-head' }, 'Breakpoints'), bpsEl);
  // A stop at a dispatch of native code: its grid, constants, bindings and machine code
  // take the CFG's place (there is no bytecode to draw).
  const nativeBox = h('div', { class: 'il-dbg-native', hidden: true });
  el.append(toolbar, status, where, h('div', { class: 'il-dbg-main' }, cfgBox, nativeBox, side));

  // Commands in flight: sent here and not yet answered (state.seq counts answered ones).
  let sent = 0;
  let base = (model.get('state') || {}).seq || 0;
  let pending = 0;
  function send(cmd) {
    sent += 1;
    pending += 1;
    busy.textContent = 'running\u2026';
    showBusy(true);
    el.dataset.pending = String(pending);
    model.send({ command: cmd });
  }
  el.addEventListener('keydown', (ev) => {
    if (ev.target.closest('select, input, textarea')) return;
    const cmd = keys[keyName(ev)];
    if (!cmd || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    ev.preventDefault();
    ev.stopPropagation();
    send(cmd);
  });
  // Focus the panel on a click anywhere in it, so the shortcuts work right away.
  el.addEventListener('pointerdown', (ev) => {
    if (!ev.target.closest('select, input, textarea, button')) el.focus({ preventScroll: true });
  });

  viewSelect.value = model.get('register_view');
  viewSelect.addEventListener('change', () => { model.set('register_view', viewSelect.value); model.save_changes(); });

  function drawState() {
    const s = model.get('state') || {};
    if (base + sent - (s.seq || 0) < 0) base = (s.seq || 0) - sent;  // commands from Python
    pending = base + sent - (s.seq || 0);
    busy.textContent = pending ? 'running\u2026' : '';
    showBusy(pending > 0);
    el.dataset.pending = String(pending);
    el.dataset.position = String(s.position);
    el.dataset.pc = String(s.pc);
    el.dataset.seq = String(s.seq);
    el.dataset.reason = s.reason || '';
    el.dataset.function = s.frame ? `${s.frame.module}.${s.frame.function}` : '';
    status.textContent = s.status || '';
    status.className = `il-dbg-status il-mono il-reason-${s.reason || 'none'}`;
    if (s.error) status.append(h('div', { class: 'il-note' }, s.error));
    const finished = !!s.finished;
    for (const c of ['step', 'over', 'out', 'continue']) buttons[c].disabled = finished;
    buttons.back.disabled = buttons.reverse.disabled = !s.position || s.position <= 1;
    drawWhere(s);
    drawNative(s);
    drawStack(s);
    drawRegisters(s);
    drawRefs(s);
    drawChanges(s);
    drawBreakpoints(s);
  }

  function drawWhere(s) {
    where.textContent = '';
    const f = s.frame;
    if (f) {
      where.append(h('span', { class: 'il-dbg-fn il-mono' }, f.label));
      if (s.instruction) where.append(h('span', { class: 'il-dbg-inst il-mono' }, '    ' + s.instruction));
    } else if (s.results) {
      where.append(h('pre', { class: 'il-dbg-results' }, s.results));
    }
    const loc = s.location;
    if (loc) {
      where.append(h('div', { class: 'il-dbg-loc il-mono', title: loc.text }, loc.short));
      if (loc.source) where.append(h('div', { class: 'il-dbg-source il-mono' }, `${loc.line}: ${loc.source}`));
    } else if (f && f.kind === 'bytecode') {
      where.append(h('div', { class: 'il-dbg-loc il-dim' }, 'no source location for this instruction'));
    }
  }

  function drawNative(s) {
    const n = s.native;
    nativeBox.hidden = !n;
    cfgBox.hidden = !!n;
    el.dataset.native = n ? n.phase : '';
    nativeBox.textContent = '';
    if (!n) return;
    const [x, y, z] = n.workgroup_count;
    const [sx, sy, sz] = n.workgroup_size;
    nativeBox.append(
      h('div', { class: 'il-dbg-head' }, `${n.export} \u2014 ${n.format}, ${n.phase} it runs`),
      h('div', { class: 'il-mono' }, `workgroups ${x}\u00d7${y}\u00d7${z} (${x * y * z}) of ${sx}\u00d7${sy}\u00d7${sz}`),
      h('div', { class: 'il-mono' }, `constants [${n.constants.join(' ')}]`));
    const rows = n.bindings.map((b) => h('tr', {},
      h('td', {}, String(b.binding)), h('td', { class: 'il-dbg-val' }, String(b.bytes)),
      h('td', { class: 'il-mono' }, b.head + (b.bytes > 64 ? ' \u2026' : ''))));
    nativeBox.append(h('table', { class: 'il-dbg-regs il-dbg-native-bindings' },
      h('tr', {}, h('th', {}, 'binding'), h('th', {}, 'bytes'), h('th', {}, n.phase === 'before' ? 'contents (inputs)' : 'contents (written)')),
      ...rows));
    nativeBox.append(h('div', { class: 'il-dbg-head' }, n.listing_kind),
      h('pre', { class: 'il-dbg-listing il-mono', style: { maxHeight: model.get('height') + 'px' } },
        n.listing.join('\n') + (n.more_listing ? `\n\u2026 ${n.more_listing} more lines` : '')));
  }

  function drawStack(s) {
    stackEl.textContent = '';
    const frames = s.frames || [];
    for (let i = frames.length - 1; i >= 0; i--) {
      const f = frames[i];
      const row = h('div', {
        class: `il-dbg-frame il-mono il-kind-${f.kind}` + (i === s.level ? ' il-selected' : ''),
        dataset: { level: i }, title: f.kind === 'bytecode' ? 'show this frame' : f.kind,
        onclick: () => { model.set('frame_level', i === frames.length - 1 ? -1 : i); model.save_changes(); },
      }, `#${f.level} ${f.shown || f.name}`, f.ordinal !== null && f.ordinal !== undefined ? h('span', { class: 'il-dim' }, ` (ordinal ${f.ordinal})`) : null,
      f.kind !== 'bytecode' ? h('span', { class: 'il-dim' }, ` (${f.kind})`) : null,
      f.workgroup ? h('span', { class: 'il-dim' }, ` wg (${f.workgroup.join(', ')})`) : null);
      stackEl.append(row);
    }
    if (!frames.length) stackEl.append(h('div', { class: 'il-dim' }, s.finished ? 'the call has returned' : 'no frames'));
  }

  function drawRegisters(s) {
    const view = model.get('register_view');
    viewSelect.value = view;
    const regs = s.registers || [];
    regsEl.textContent = '';
    if (!regs.length) { regsEl.append(h('div', { class: 'il-dim' }, 'no i32 registers')); return; }
    const cols = view === 'all' ? ['raw', 'i32', 'f32', 'i64', 'f64'] : [view];
    const table = h('table', { class: 'il-table il-dbg-regs il-mono' },
      h('tr', {}, h('th', {}, 'reg'), ...cols.map((c) => h('th', {}, c))));
    for (const r of regs) {
      if ((view === 'i64' || view === 'f64') && !r.pair) continue;
      const tr = h('tr', { class: r.changed || r.pair_changed ? 'il-changed' : '', dataset: { slot: r.slot } },
        h('td', { class: 'il-dbg-reg' }, (view === 'i64' || view === 'f64') ? r.pair : r.name));
      for (const c of cols) {
        const wide = c === 'i64' || c === 'f64';
        const changed = wide ? r.pair_changed : r.changed;
        tr.append(h('td', { class: `il-dbg-val il-col-${c}` + (changed ? ' il-changed' : ''), dataset: { col: c } }, r[c]));
      }
      table.append(tr);
    }
    regsEl.append(table);
  }

  function drawRefs(s) {
    refsEl.textContent = '';
    const refs = (s.refs || []).filter((r) => !r.null || r.changed);
    const nulls = (s.refs || []).length - refs.length;
    if (refs.length) {
      const table = h('table', { class: 'il-table il-dbg-refs-table il-mono' });
      for (const r of refs) {
        table.append(h('tr', { class: r.changed ? 'il-changed' : '', dataset: { slot: r.slot } },
          h('td', {}, r.name), h('td', {}, r.null ? '(null)' : `!${r.type}`), h('td', { class: 'il-dbg-summary' }, r.summary)));
      }
      refsEl.append(table);
    }
    if (nulls) refsEl.append(h('div', { class: 'il-dim' }, `${nulls} null ref register${nulls > 1 ? 's' : ''}`));
  }

  function drawChanges(s) {
    changesEl.textContent = '';
    const changes = s.changes || [];
    for (const c of changes) changesEl.append(h('div', { class: 'il-dbg-change il-mono' }, c));
    if (s.more_changes) changesEl.append(h('div', { class: 'il-dim' }, `and ${s.more_changes} more`));
    if (!changes.length) changesEl.append(h('div', { class: 'il-dim' }, 'nothing'));
  }

  function drawBreakpoints(s) {
    bpsEl.textContent = '';
    for (const b of s.breakpoints || []) {
      bpsEl.append(h('div', { class: 'il-dbg-bp il-mono' + (b.enabled ? '' : ' il-dim'), dataset: { id: b.id } },
        b.text, b.hits ? h('span', { class: 'il-dim' }, `  (${b.hits} hit${b.hits > 1 ? 's' : ''})`) : null));
    }
    if (!(s.breakpoints || []).length) bpsEl.append(h('div', { class: 'il-dim' }, 'none (click an instruction in the CFG)'));
  }

  // The CFG is a CFGView child widget (one per function; the kernel swaps them).
  let cfgId = null;
  let cfgAbort = null;
  async function drawCfg() {
    const ref = model.get('cfg');
    const id = ref ? String(ref).replace(/^IPY_MODEL_/, '').replace(/^anywidget:/, '') : null;
    if (id === cfgId) return;
    cfgId = id;
    if (cfgAbort) cfgAbort.abort();
    cfgAbort = null;
    cfgBox.textContent = '';
    if (!id) return;
    if (!host || !host.getWidget) {
      cfgBox.append(h('div', { class: 'il-note' }, 'display panel.cfg to see the CFG (this front-end cannot embed widgets)'));
      return;
    }
    const controller = new AbortController();
    cfgAbort = controller;
    const holder = h('div', { class: 'il-dbg-cfg-holder' });
    cfgBox.append(holder);
    try {
      const child = await host.getWidget(`anywidget:${id}`);
      if (controller.signal.aborted) return;
      await child.render({ el: holder, signal: controller.signal });
    } catch (err) {
      holder.append(h('div', { class: 'il-note' }, `CFG: ${err}`));
    }
  }

  drawState();
  const onState = () => drawState();
  const onView = () => drawRegisters(model.get('state') || {});
  const onCfg = () => { drawCfg(); };
  model.on('change:state', onState);
  model.on('change:register_view', onView);
  model.on('change:cfg', onCfg);
  await drawCfg();
  return () => {
    model.off('change:state', onState);
    model.off('change:register_view', onView);
    model.off('change:cfg', onCfg);
    if (cfgAbort) cfgAbort.abort();
    showBusy(false);
  };
}

export default { render };