// A V8 heap snapshot summed by constructor: self size and count, and retained size (dominator tree, weak and
// shortcut edges ignored) of the "top-level" instances, those whose immediate dominator is of another constructor,
// so nested instances are not counted twice. What DevTools' Summary view shows, as text that two snapshots can be
// compared by (docs/scaling.md, "Where a printer's memory goes").
//   node --max-old-space-size=6000 bench/heapByConstructor.mjs FILE.heapsnapshot [TOP]
//   EXPLAIN=object:ContentEncoder DEPTH=3 COUNT=1 ... : what the first instances of a constructor retain, level by level
//   DUMP_JSON=out.json ... : every constructor's figures as JSON
import fs from 'node:fs';
const file = process.argv[2];
if (!file) { console.error('usage: heapByConstructor.mjs FILE.heapsnapshot [TOP]'); process.exit(2); }
const top = Number(process.argv[3] ?? 60);
const snap = JSON.parse(fs.readFileSync(file, 'utf8'));
const m = snap.snapshot.meta;
const NF = m.node_fields.length, EF = m.edge_fields.length;
const nT = m.node_fields.indexOf('type'), nN = m.node_fields.indexOf('name'), nS = m.node_fields.indexOf('self_size'), nE = m.node_fields.indexOf('edge_count');
const eT = m.edge_fields.indexOf('type'), eN = m.edge_fields.indexOf('name_or_index'), eTo = m.edge_fields.indexOf('to_node');
const nodeTypes = m.node_types[0], edgeTypes = m.edge_types[0];
const weak = edgeTypes.indexOf('weak'), shortcut = edgeTypes.indexOf('shortcut');
const nodes = snap.nodes, edges = snap.edges, strings = snap.strings;
const N = nodes.length / NF;
const firstEdge = new Uint32Array(N + 1);
for (let i = 0, e = 0; i < N; i++) { firstEdge[i] = e; e += nodes[i * NF + nE] * EF; }
firstEdge[N] = edges.length;
const typeName = (i) => nodeTypes[nodes[i * NF + nT]];
const name = (i) => { const t = typeName(i); const s = strings[nodes[i * NF + nN]]; return t === 'object' || t === 'closure' || t === 'native' ? `${t}:${s}` : `(${t})`; };
// post-order DFS from root 0
const post = new Int32Array(N).fill(-1); const order = new Int32Array(N); let cnt = 0;
const stack = new Int32Array(N), it = new Uint32Array(N); const seen = new Uint8Array(N);
let sp = 0; stack[sp++] = 0; seen[0] = 1; it[0] = firstEdge[0];
while (sp) {
  const v = stack[sp - 1];
  if (it[v] < firstEdge[v + 1]) {
    const e = it[v]; it[v] += EF;
    const t = edges[e + eT]; if (t === weak || t === shortcut) continue;
    const w = edges[e + eTo] / NF;
    if (!seen[w]) { seen[w] = 1; it[w] = firstEdge[w]; stack[sp++] = w; }
  } else { sp--; post[v] = cnt; order[cnt++] = v; }
}
// predecessors
const predCount = new Uint32Array(N + 1);
for (let v = 0; v < N; v++) if (seen[v]) for (let e = firstEdge[v]; e < firstEdge[v + 1]; e += EF) { const t = edges[e + eT]; if (t === weak || t === shortcut) continue; predCount[edges[e + eTo] / NF + 1]++; }
for (let i = 0; i < N; i++) predCount[i + 1] += predCount[i];
const preds = new Int32Array(predCount[N]); const fill = predCount.slice();
for (let v = 0; v < N; v++) if (seen[v]) for (let e = firstEdge[v]; e < firstEdge[v + 1]; e += EF) { const t = edges[e + eT]; if (t === weak || t === shortcut) continue; const w = edges[e + eTo] / NF; preds[fill[w]++] = v; }
const idom = new Int32Array(N).fill(-1); idom[0] = 0;
let changed = true;
while (changed) {
  changed = false;
  for (let k = cnt - 2; k >= 0; k--) {
    const b = order[k]; let nd = -1;
    for (let p = predCount[b]; p < predCount[b + 1]; p++) {
      const q = preds[p]; if (idom[q] === -1) continue;
      if (nd === -1) { nd = q; continue; }
      let a = q, c = nd;
      while (a !== c) { while (post[a] < post[c]) a = idom[a]; while (post[c] < post[a]) c = idom[c]; }
      nd = a;
    }
    if (nd !== idom[b]) { idom[b] = nd; changed = true; }
  }
}
const retained = new Float64Array(N);
for (let k = 0; k < cnt; k++) { const v = order[k]; retained[v] += nodes[v * NF + nS]; if (v !== 0) retained[idom[v]] += retained[v]; }
const by = new Map();
let total = 0;
for (let v = 0; v < N; v++) {
  if (!seen[v]) continue;
  const s = nodes[v * NF + nS]; total += s;
  const k = name(v); let r = by.get(k); if (!r) by.set(k, r = { count: 0, self: 0, retTop: 0, topCount: 0 });
  r.count++; r.self += s;
  if (v !== 0 && name(idom[v]) !== k) { r.retTop += retained[v]; r.topCount++; }
}
const rows = [...by.entries()];
const fmt = (x) => (x / 1024).toFixed(0).padStart(8);
console.log(`total reachable self ${(total / 2 ** 20).toFixed(1)} MiB, nodes ${cnt}`);
console.log('--- by self size');
for (const [k, r] of rows.sort((a, b) => b[1].self - a[1].self).slice(0, top)) console.log(fmt(r.self), 'KiB', String(r.count).padStart(8), k.slice(0, 90));
console.log('--- by retained (top-level instances)');
for (const [k, r] of rows.sort((a, b) => b[1].retTop - a[1].retTop).slice(0, top)) console.log(fmt(r.retTop), 'KiB', String(r.topCount).padStart(8), k.slice(0, 90));
if (process.env.DUMP_JSON) fs.writeFileSync(process.env.DUMP_JSON, JSON.stringify(Object.fromEntries(rows)));
// EXPLAIN=Name: for the first instances of that constructor, the objects it dominates directly, by retained size.
if (process.env.EXPLAIN) {
  const want = process.env.EXPLAIN; const depth = Number(process.env.DEPTH ?? 2);
  const kids = new Map();
  for (let v = 1; v < N; v++) if (seen[v]) { const d = idom[v]; let a = kids.get(d); if (!a) kids.set(d, a = []); a.push(v); }
  const edgeName = (from, to) => { for (let e = firstEdge[from]; e < firstEdge[from + 1]; e += EF) if (edges[e + eTo] / NF === to) { const t = edgeTypes[edges[e + eT]]; return t === 'element' || t === 'hidden' ? `[${edges[e + eN]}]` : strings[edges[e + eN]]; } return '?'; };
  const show = (v, d, ind, parent) => {
    const s = strings[nodes[v * NF + nN]];
    console.log(`${ind}${(retained[v] / 1024).toFixed(1)} KiB  ${parent >= 0 ? edgeName(parent, v) + ' -> ' : ''}${name(v)} ${typeName(v) === 'string' ? JSON.stringify(s.slice(0, 60)) + ' len ' + s.length : ''}`);
    if (d <= 0) return;
    const ks = (kids.get(v) ?? []).sort((a, b) => retained[b] - retained[a]).slice(0, 8);
    for (const k of ks) if (retained[k] > 256) show(k, d - 1, ind + '  ', v);
  };
  let shown = 0;
  for (let v = 0; v < N && shown < Number(process.env.COUNT ?? 2); v++) if (seen[v] && name(v) === want) { show(v, depth, '', -1); shown++; }
}
