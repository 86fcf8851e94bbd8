// Small DOM helpers shared by iree_lab's widgets (bundled into each widget's ES module).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function svg(tag, attrs = {}) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  return el;
}

export function hex8(n) {
  return (n >>> 0).toString(16).toUpperCase().padStart(8, '0');
}

// Width of one character of the monospace font used in `probeClass` elements, in px.
export function measureChar(host, probeClass) {
  // A sample of what instructions are made of (a fallback font may not be exactly
  // monospace for every glyph); `host` must not be scaled by a CSS transform.
  const sample = '%i0:1 = vm.add.i32 ^bb9(%r2->%R3), 0x0123456789ABCDEF // "_@<>"';
  const probe = h('span', { class: probeClass, style: { position: 'absolute', visibility: 'hidden', whiteSpace: 'pre' } },
    sample.repeat(4));
  host.append(probe);
  const rect = probe.getBoundingClientRect();
  probe.remove();
  return { width: rect.width / (4 * sample.length) || 7.2, height: rect.height || 16 };
}

export function debounce(fn, ms) {
  let t = null;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}
