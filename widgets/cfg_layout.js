// Layered (Sugiyama-style) layout of a control-flow graph, written for iree_lab.
//
// layoutGraph({nodes: [{width, height, loopWidth?}], edges: [{source, target,
// labelWidth?, labelHeight?}]}, options) returns node boxes, edge routes and label
// boxes. Steps: (1) cycle removal by reversing DFS back edges, (2) longest-path
// layering where every edge spans two layers so its label gets a slot of its own
// in the odd layer, (3) dummy vertices for long edges, (4) crossing reduction by
// barycenter sweeps keeping the best ordering seen, (5) x coordinates by
// alternating sweeps that pull each vertex to its neighbours' mean and resolve
// overlaps exactly (weighted isotonic regression, pool-adjacent-violators),
// (6) y coordinates per layer, (7) edge routes through the dummies with ports
// spread along the block's border. Pure function: no DOM, testable anywhere.

const DEFAULTS = {
  nodeGap: 28,      // horizontal space between blocks
  dummyGap: 8,      // between edge dummies (and a dummy and a block)
  layerGap: 22,     // vertical space between a layer and the next
  sweeps: 12,       // crossing-reduction sweeps (alternating down/up)
  coordPasses: 8,   // coordinate passes (alternating down/up)
  dummyWidth: 2,
  dummyWeight: 4,   // how strongly edge dummies stay aligned (straight long edges)
  margin: 16,
};

export function layoutGraph(graph, options = {}) {
  const opt = { ...DEFAULTS, ...options };
  const nodes = graph.nodes;
  const edges = graph.edges;
  const N = nodes.length;

  // -- 1. cycle removal: edges closing a cycle in DFS order (from the entry) are reversed.
  const succ = Array.from({ length: N }, () => []);
  edges.forEach((e, i) => { if (e.source !== e.target) succ[e.source].push(i); });
  const reversed = new Array(edges.length).fill(false);
  const state = new Uint8Array(N); // 0 unseen, 1 on the DFS stack, 2 done
  const dfsOrder = [];
  for (let root = 0; root < N; root++) {
    if (state[root]) continue;
    const stack = [[root, 0]];
    state[root] = 1;
    dfsOrder.push(root);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [v, k] = top;
      if (k >= succ[v].length) { state[v] = 2; stack.pop(); continue; }
      top[1] = k + 1;
      const ei = succ[v][k];
      const w = edges[ei].target;
      if (state[w] === 1) reversed[ei] = true;
      else if (state[w] === 0) { state[w] = 1; dfsOrder.push(w); stack.push([w, 0]); }
    }
  }

  // -- 2. layering: longest path over the acyclic graph (Kahn's order), rank r -> layer 2r.
  const dagOut = Array.from({ length: N }, () => []);
  const indeg = new Int32Array(N);
  edges.forEach((e, i) => {
    if (e.source === e.target) return;
    const [u, v] = reversed[i] ? [e.target, e.source] : [e.source, e.target];
    dagOut[u].push(v);
    indeg[v]++;
  });
  const rank = new Int32Array(N);
  const queue = [];
  for (const v of dfsOrder) if (indeg[v] === 0) queue.push(v);
  for (let qi = 0; qi < queue.length; qi++) {
    const u = queue[qi];
    for (const v of dagOut[u]) {
      if (rank[u] + 1 > rank[v]) rank[v] = rank[u] + 1;
      if (--indeg[v] === 0) queue.push(v);
    }
  }

  // -- 3. the layered graph: blocks, then a chain of dummies per edge.
  const V = []; // {w, h, layer, node?, edge?, label?, weight}
  for (let i = 0; i < N; i++) {
    const n = nodes[i];
    // A self-loop's room is on the right, so the block's centre is left of the slot's.
    const loop = n.loopWidth || 0;
    V.push({ w: n.width + loop, h: n.height, layer: 2 * rank[i], node: i, weight: 1, anchor: -loop / 2,
      up: [], down: [] });
  }
  const chains = new Array(edges.length).fill(null);
  edges.forEach((e, i) => {
    if (e.source === e.target) return;
    const [u, v] = reversed[i] ? [e.target, e.source] : [e.source, e.target];
    const chain = [u];
    const hasLabel = (e.labelWidth || 0) > 0;
    // The label sits next to the edge where it leaves its (original) source.
    const labelLayer = reversed[i] ? V[v].layer - 1 : V[u].layer + 1;
    for (let l = V[u].layer + 1; l < V[v].layer; l++) {
      const isLabel = hasLabel && l === labelLayer;
      const w = isLabel ? e.labelWidth + 12 : opt.dummyWidth;
      V.push({
        w, h: isLabel ? e.labelHeight || 0 : 0,
        // Where the edge's line passes, relative to the centre: a label slot's
        // line runs down its left side (the text is right of it).
        anchor: isLabel ? 4 - w / 2 : 0,
        layer: l, edge: i, label: isLabel, weight: isLabel ? 2 : opt.dummyWeight, up: [], down: [],
      });
      chain.push(V.length - 1);
    }
    chain.push(v);
    for (let k = 0; k + 1 < chain.length; k++) {
      V[chain[k]].down.push(chain[k + 1]);
      V[chain[k + 1]].up.push(chain[k]);
    }
    chains[i] = chain;
  });
  const L = V.reduce((m, x) => Math.max(m, x.layer + 1), 0);

  // -- 4. ordering: DFS placement, then barycenter sweeps keeping the best.
  let layers = Array.from({ length: L }, () => []);
  {
    const seen = new Uint8Array(V.length);
    const visit = (start) => {
      const stack = [start];
      while (stack.length) {
        const x = stack.pop();
        if (seen[x]) continue;
        seen[x] = 1;
        layers[V[x].layer].push(x);
        for (let k = V[x].down.length - 1; k >= 0; k--) stack.push(V[x].down[k]);
      }
    };
    for (const v of dfsOrder) visit(v);
    for (let x = 0; x < V.length; x++) if (!seen[x]) visit(x);
  }
  const pos = new Float64Array(V.length);
  const setPositions = (ls) => ls.forEach((layer) => layer.forEach((x, i) => { pos[x] = i; }));
  setPositions(layers);
  let bestCrossings = countAllCrossings(layers, V, pos);
  let best = layers.map((l) => l.slice());
  for (let s = 0; s < opt.sweeps && bestCrossings > 0; s++) {
    const down = s % 2 === 0;
    const order = down ? range(1, L) : range(L - 2, -1, -1);
    for (const l of order) {
      const layer = layers[l];
      const key = new Map();
      for (const x of layer) {
        const nbrs = down ? V[x].up : V[x].down;
        if (!nbrs.length) { key.set(x, pos[x]); continue; }
        let sum = 0;
        for (const y of nbrs) sum += pos[y];
        // Scale neighbour positions into this layer's index range to mix with
        // vertices that keep their own position.
        key.set(x, sum / nbrs.length * (layer.length / Math.max(1, layers[down ? l - 1 : l + 1].length)));
      }
      layer.sort((a, b) => (key.get(a) - key.get(b)) || (pos[a] - pos[b]));
      layer.forEach((x, i) => { pos[x] = i; });
    }
    const c = countAllCrossings(layers, V, pos);
    if (c < bestCrossings) { bestCrossings = c; best = layers.map((l) => l.slice()); }
  }
  layers = best;
  setPositions(layers);

  // -- 5. x coordinates: pull to neighbours' mean, resolve overlaps optimally.
  const X = new Float64Array(V.length);
  const gapBetween = (a, b) => (V[a].node === undefined || V[b].node === undefined) ? opt.dummyGap : opt.nodeGap;
  for (const layer of layers) {
    let x = 0;
    layer.forEach((v, i) => {
      if (i > 0) x += V[layer[i - 1]].w / 2 + gapBetween(layer[i - 1], v) + V[v].w / 2;
      X[v] = x;
    });
    const shift = x / 2;
    for (const v of layer) X[v] -= shift;
  }
  // Spines: every vertex continues the vertical line of at most one vertex above
  // it, the one leading to most of the graph (largest reach), and every vertex
  // below extends the line of one vertex. A spine's members aim at the spine's
  // mean x, so the main flow and long edges stay straight instead of drifting
  // (averaging neighbours alone interpolates and accumulates offsets), and side
  // branches such as loop bodies move aside.
  const reach = new Float64Array(V.length);
  for (let l = L - 1; l >= 0; l--) {
    for (const v of layers[l]) {
      let r = 0;
      for (const w of V[v].down) r = Math.max(r, reach[w] + 1);
      reach[v] = r;
    }
  }
  const spine = new Int32Array(V.length).fill(-1);
  let spineCount = 0;
  for (let l = 0; l < L; l++) {
    for (const v of layers[l]) {
      if (spine[v] < 0) spine[v] = spineCount++;
      let bestW = -1;
      let tie = false;
      for (const w of V[v].down) {
        if (spine[w] >= 0) continue;
        // Long edges always continue their own chain.
        if (V[v].edge !== undefined && V[w].edge === V[v].edge) { bestW = w; tie = false; break; }
        // A vertex entered from several places (a join) is centred under them instead.
        if (V[w].up.length !== 1) continue;
        if (bestW < 0 || reach[w] > reach[bestW]) { bestW = w; tie = false; }
        else if (reach[w] === reach[bestW]) tie = true;
      }
      // Equal branches (a diamond) stay symmetric around their parent.
      if (bestW >= 0 && !tie) spine[bestW] = spine[v];
    }
  }
  const spineSum = new Float64Array(spineCount);
  const spineN = new Float64Array(spineCount);
  for (let v = 0; v < V.length; v++) spineN[spine[v]]++;
  const updateSpines = () => {
    spineSum.fill(0);
    for (let v = 0; v < V.length; v++) spineSum[spine[v]] += X[v] + V[v].anchor;
  };
  const ctx = { spine, spineSum, spineN };
  for (let p = 0; p < opt.coordPasses; p++) {
    updateSpines();
    const down = p % 2 === 0;
    const order = down ? range(1, L) : range(L - 2, -1, -1);
    for (const l of order) placeLayer(layers[l], V, X, down ? 'up' : 'down', gapBetween, ctx);
  }
  // Last, a pass using both neighbour sets: balanced, not biased to one direction.
  updateSpines();
  for (let l = 0; l < L; l++) placeLayer(layers[l], V, X, 'both', gapBetween, ctx);

  // -- 6. y coordinates: a layer is as tall as its tallest member.
  const layerTop = new Float64Array(L);
  const layerHeight = new Float64Array(L);
  for (let l = 0; l < L; l++) for (const v of layers[l]) layerHeight[l] = Math.max(layerHeight[l], V[v].h);
  let y = opt.margin;
  for (let l = 0; l < L; l++) {
    layerTop[l] = y;
    y += layerHeight[l] + (layerHeight[l] > 0 || l % 2 === 0 ? opt.layerGap / (l % 2 ? 2 : 1) : opt.layerGap / 2);
  }
  let minX = Infinity, maxX = -Infinity;
  for (let v = 0; v < V.length; v++) {
    minX = Math.min(minX, X[v] - V[v].w / 2);
    maxX = Math.max(maxX, X[v] + V[v].w / 2);
  }
  const dx = opt.margin - minX;
  const cy = (v) => layerTop[V[v].layer] + layerHeight[V[v].layer] / 2;

  const outNodes = nodes.map((n, i) => ({
    x: X[i] + dx - V[i].w / 2, y: layerTop[V[i].layer], width: n.width, height: n.height,
    layer: V[i].layer, order: pos[i],
  }));

  // -- 7. edge routes, ports spread along the bottom/top borders.
  const outEdges = edges.map(() => null);
  const bottomPorts = Array.from({ length: N }, () => []);
  const topPorts = Array.from({ length: N }, () => []);
  edges.forEach((e, i) => {
    if (e.source === e.target) return;
    const chain = chains[i];
    // Original direction: source first.
    const path = reversed[i] ? chain.slice().reverse() : chain;
    const inner = path.slice(1, -1);
    const nextX = inner.length ? X[inner[0]] : X[path[path.length - 1]];
    const prevX = inner.length ? X[inner[inner.length - 1]] : X[path[0]];
    // Forward edges leave from the bottom and enter at the top; back edges the reverse.
    (reversed[i] ? topPorts : bottomPorts)[e.source].push({ edge: i, end: 0, toward: nextX });
    (reversed[i] ? bottomPorts : topPorts)[e.target].push({ edge: i, end: 1, toward: prevX });
  });
  const portX = new Map(); // "edge:end" -> x (layout coordinates, before dx)
  const spread = (ports, node) => {
    ports.sort((a, b) => a.toward - b.toward);
    const w = nodes[node].width;
    const n = ports.length;
    ports.forEach((p, k) => {
      const left = X[node] - V[node].w / 2;
      portX.set(`${p.edge}:${p.end}`, left + w * (k + 1) / (n + 1));
    });
  };
  for (let v = 0; v < N; v++) { spread(bottomPorts[v], v); spread(topPorts[v], v); }

  edges.forEach((e, i) => {
    const nb = outNodes[e.source];
    if (e.source === e.target) {
      // A self-loop on the block's right, in the space reserved by loopWidth.
      const right = nb.x + nb.width;
      const reach = Math.max(18, (nodes[e.source].loopWidth || 30) - 6);
      const y0 = nb.y + Math.min(14, nb.height / 3);
      const y1 = nb.y + nb.height - Math.min(14, nb.height / 3);
      outEdges[i] = {
        points: [[right, y0], [right + reach, y0], [right + reach, y1], [right, y1]],
        label: e.labelWidth ? { x: right + 8, y: (y0 + y1) / 2 - (e.labelHeight || 0) / 2,
          width: e.labelWidth, height: e.labelHeight || 0 } : null,
        reversed: false, selfLoop: true,
      };
      return;
    }
    const chain = chains[i];
    const path = reversed[i] ? chain.slice().reverse() : chain;
    const nt = outNodes[e.target];
    const sx = portX.get(`${i}:0`) + dx;
    const tx = portX.get(`${i}:1`) + dx;
    const points = [[sx, reversed[i] ? nb.y : nb.y + nb.height]];
    // Blocks are top-aligned in their layer: below a block shorter than the layer,
    // go straight down to the layer's bottom first (never across a taller neighbour).
    const bottomOf = (node) => layerTop[V[node].layer] + layerHeight[V[node].layer];
    if (!reversed[i] && bottomOf(e.source) > nb.y + nb.height) points.push([sx, bottomOf(e.source)]);
    let label = null;
    for (const d of path.slice(1, -1)) {
      const vx = X[d] + dx;
      if (V[d].label) {
        // The line runs down the label slot's left side; the text sits right of it.
        const left = vx - V[d].w / 2;
        points.push([vx + V[d].anchor, layerTop[V[d].layer]]);
        points.push([vx + V[d].anchor, layerTop[V[d].layer] + layerHeight[V[d].layer]]);
        if (reversed[i]) points.splice(points.length - 2, 2, points[points.length - 1], points[points.length - 2]);
        label = { x: left + 10, y: cy(d) - V[d].h / 2, width: edges[i].labelWidth, height: V[d].h };
      } else {
        points.push([vx, cy(d)]);
      }
    }
    if (reversed[i] && bottomOf(e.target) > nt.y + nt.height) points.push([tx, bottomOf(e.target)]);
    points.push([tx, reversed[i] ? nt.y + nt.height : nt.y]);
    outEdges[i] = { points, label, reversed: reversed[i], selfLoop: false };
  });

  return {
    nodes: outNodes,
    edges: outEdges,
    width: maxX - minX + 2 * opt.margin,
    height: y + opt.margin,
    stats: {
      layers: L, vertices: V.length, dummies: V.length - N, crossings: bestCrossings,
      reversedEdges: reversed.filter(Boolean).length,
    },
  };
}

function range(start, stop, step = 1) {
  const out = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

// Crossings between consecutive layers: inversions among edge endpoints (Fenwick tree).
export function countAllCrossings(layers, V, pos) {
  let total = 0;
  for (let l = 0; l + 1 < layers.length; l++) {
    const pairs = [];
    for (const u of layers[l]) for (const v of V[u].down) pairs.push([pos[u], pos[v]]);
    if (pairs.length < 2) continue;
    pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const n = layers[l + 1].length;
    const tree = new Int32Array(n + 1);
    let seen = 0;
    for (const [, q] of pairs) {
      // Count earlier edges whose lower end is right of q.
      let le = 0;
      for (let i = q + 1; i > 0; i -= i & -i) le += tree[i];
      total += seen - le;
      for (let i = q + 1; i <= n; i += i & -i) tree[i]++;
      seen++;
    }
  }
  return total;
}

// Places one layer: each vertex wants the mean x of its neighbours (in the given
// direction); the order is kept and overlaps are resolved with the least weighted
// squared movement (isotonic regression over gap-shifted targets).
function placeLayer(layer, V, X, direction, gapBetween, ctx) {
  const n = layer.length;
  if (!n) return;
  const offset = new Float64Array(n);
  for (let i = 1; i < n; i++) {
    const a = layer[i - 1], b = layer[i];
    offset[i] = offset[i - 1] + V[a].w / 2 + gapBetween(a, b) + V[b].w / 2;
  }
  const target = new Float64Array(n);
  const weight = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = layer[i];
    const nbrs = direction === 'up' ? V[v].up : direction === 'down' ? V[v].down : V[v].up.concat(V[v].down);
    // Positions are anchors (where lines attach), mapped back to the vertex centre.
    let want = X[v];
    let pull = 0;
    const sp = ctx.spine[v];
    if (ctx.spineN[sp] > 1) {
      want = ctx.spineSum[sp] / ctx.spineN[sp] - V[v].anchor;
      pull = 1;
    } else if (nbrs.length) {
      let sum = 0;
      for (const u of nbrs) sum += X[u] + V[u].anchor;
      want = sum / nbrs.length - V[v].anchor;
      pull = 1;
    }
    target[i] = want - offset[i];
    weight[i] = V[v].weight * (pull > 0 ? 1 : 0.05) * (ctx.spineN[sp] > 1 ? 1 + Math.sqrt(ctx.spineN[sp]) : 1);
  }
  // Pool adjacent violators: blocks of equal value, merged while decreasing.
  const bw = [], bs = [], bn = [];
  for (let i = 0; i < n; i++) {
    bw.push(weight[i]); bs.push(weight[i] * target[i]); bn.push(1);
    while (bw.length > 1 && bs[bs.length - 2] / bw[bw.length - 2] > bs[bs.length - 1] / bw[bw.length - 1]) {
      const w = bw.pop(), s = bs.pop(), c = bn.pop();
      bw[bw.length - 1] += w; bs[bs.length - 1] += s; bn[bn.length - 1] += c;
    }
  }
  let i = 0;
  for (let b = 0; b < bw.length; b++) {
    const value = bs[b] / bw[b];
    for (let k = 0; k < bn[b]; k++, i++) X[layer[i]] = value + offset[i];
  }
}
