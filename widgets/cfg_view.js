// The CFGView widget: one function's CFG; `current_pc` and `breakpoints` live in the
// model (the debugger drives them from Python); a click on an instruction toggles
// a breakpoint and syncs the list back.
import { CFGRenderer } from './cfg_render.js';

function render({ model, el }) {
  el.classList.add('iree-lab', 'tex2jax_ignore', 'mathjax_ignore', 'il-cfg');
  const renderer = new CFGRenderer(el, {
    height: model.get('height'),
    onToggleBreakpoint(pc) {
      const bps = new Set(model.get('breakpoints'));
      if (bps.has(pc)) bps.delete(pc); else bps.add(pc);
      model.set('breakpoints', [...bps].sort((a, b) => a - b));
      model.save_changes();
    },
  });
  renderer.breakpoints = new Set(model.get('breakpoints'));
  renderer.currentPc = model.get('current_pc');
  const draw = () => {
    const graph = model.get('graph');
    if (!graph || !graph.blocks) return;
    const timing = renderer.draw(graph);
    model.set('draw_ms', timing.total);
    model.set('layout_stats', { ...timing.stats, layout_ms: timing.layout, dom_ms: timing.dom });
    model.save_changes();
  };
  // Draw once the element is attached (sizes are known), not before.
  requestAnimationFrame(draw);
  const onGraph = () => draw();
  const onBps = () => renderer.setBreakpoints(model.get('breakpoints'));
  const onPc = () => renderer.setCurrent(model.get('current_pc'));
  model.on('change:graph', onGraph);
  model.on('change:breakpoints', onBps);
  model.on('change:current_pc', onPc);
  return () => {
    model.off('change:graph', onGraph);
    model.off('change:breakpoints', onBps);
    model.off('change:current_pc', onPc);
  };
}

export default { render };
