// The ProgressBar widget: a labelled bar for runs and recordings (Python sends done/total,
// throttled); indeterminate while total is 0; hidden until Python marks it visible (after
// the first second), so short runs show nothing.
import { h } from './common.js';

function render({ model, el }) {
  el.classList.add('iree-lab', 'tex2jax_ignore', 'mathjax_ignore', 'il-progress');
  const label = h('span', { class: 'il-progress-label' });
  const fill = h('div', { class: 'il-progress-fill' });
  const track = h('div', { class: 'il-progress-track', role: 'progressbar', 'aria-valuemin': '0' }, fill);
  const count = h('span', { class: 'il-progress-count il-dim il-mono' });
  el.append(label, track, count);
  function draw() {
    const done = model.get('done'), total = model.get('total'), state = model.get('state');
    el.hidden = !model.get('visible');
    label.textContent = model.get('description');
    el.classList.toggle('il-indeterminate', total <= 0 && state === 'running');
    el.classList.toggle('il-done', state === 'done');
    el.dataset.state = state;
    const frac = total > 0 ? Math.min(1, done / total) : (state === 'done' ? 1 : 0);
    fill.style.width = (frac * 100).toFixed(1) + '%';
    track.setAttribute('aria-valuenow', String(done));
    track.setAttribute('aria-valuemax', String(total));
    const elapsed = model.get('elapsed_s');
    const current = state === 'running' ? model.get('current') : '';
    count.textContent = (total > 0 ? `${done} / ${total}` : `${done}`) + (elapsed ? ` \u00b7 ${elapsed.toFixed(1)} s` : '') +
      (current ? ` \u00b7 ${current}` : '') + (state === 'failed' ? ' \u00b7 failed' : '');
  }
  draw();
  const names = ['done', 'total', 'state', 'description', 'visible', 'elapsed_s', 'current'];
  for (const n of names) model.on(`change:${n}`, draw);
  return () => { for (const n of names) model.off(`change:${n}`, draw); };
}

export default { render };
