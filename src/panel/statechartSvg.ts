/**
 * The statechart drawn on the server as SVG, so it works offline and without scripts: a layered layout of the leaf
 * states (hand-ordered layers that follow the sign-in story top to bottom), compound states as boxes around their
 * leaves, one curved arrow per (origin, target) with its events, the current state highlighted and the transitions it
 * can take in blue. Branches declared on the root (FACTORY_RESET) would draw an arrow from every state: they become
 * a note instead. Self-transitions are left out of the drawing (they are in the table under it).
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import type { TransitionTable } from '../model/transitionTable.ts';

/** Layers, top to bottom; a state the machine grows later lands in an extra bottom layer. */
const LAYERS: (string | null)[][] = [
  [null, 'unconfigured'],
  [null, 'ready'],
  ['requestingCode', 'codePending', 'requestingToken', 'authFailed'],
  ['authorized', 'tokenExpired', null, 'reauthRequired'],
  ['sending', 'refreshing', 'sendFailure'],
];

const COL_W = 250;
const ROW_H = 160;
const BOX_W = 170;
const BOX_H = 50;
const MARGIN = 40;
const TOP = 30;

type Rect = { x: number; y: number; w: number; h: number };
type Point = { x: number; y: number };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function leavesOf(node: AnyStateNode): AnyStateNode[] {
  const children = Object.values(node.states) as AnyStateNode[];
  return children.length === 0 ? [node] : children.flatMap(leavesOf);
}

function compoundsOf(node: AnyStateNode): AnyStateNode[] {
  const children = Object.values(node.states) as AnyStateNode[];
  return children.filter((c) => Object.keys(c.states).length > 0).flatMap((c) => [c, ...compoundsOf(c)]);
}

/** Where a ray from the centre of `r` towards `toward` leaves the rectangle. */
function clip(r: Rect, toward: Point): Point {
  const c = { x: r.x + r.w / 2, y: r.y + r.h / 2 };
  const dx = toward.x - c.x;
  const dy = toward.y - c.y;
  if (dx === 0 && dy === 0) return c;
  const t = Math.min(dx === 0 ? Infinity : r.w / 2 / Math.abs(dx), dy === 0 ? Infinity : r.h / 2 / Math.abs(dy));
  return { x: c.x + dx * t, y: c.y + dy * t };
}

export interface DiagramEdge {
  from: string;
  to: string;
  events: string[];
}

export function renderStatechartSvg(machine: AnyStateMachine, table: TransitionTable, current: string | null): string {
  // ---- layout
  const pos = new Map<string, Rect>();
  const layers = LAYERS.map((l) => [...l]);
  const placed = new Set(layers.flat().filter((s): s is string => s !== null));
  const extra = table.states.filter((s) => !placed.has(s));
  if (extra.length) layers.push(extra);
  const cols = Math.max(...layers.map((l) => l.length));
  layers.forEach((layer, row) =>
    layer.forEach((state, col) => {
      if (state && table.states.includes(state)) {
        pos.set(state, { x: MARGIN + col * COL_W + (COL_W - BOX_W) / 2, y: TOP + row * ROW_H + 24, w: BOX_W, h: BOX_H });
      }
    }),
  );

  const layerOf = new Map<string, number>();
  layers.forEach((layer, row) => layer.forEach((state) => state && layerOf.set(state, row)));

  const compoundRects = new Map<string, { key: string; rect: Rect; leaves: string[] }>();
  for (const c of compoundsOf(machine.root)) {
    const leaves = leavesOf(c).map((l) => l.key);
    const rects = leaves.map((k) => pos.get(k)).filter((r): r is Rect => !!r);
    if (!rects.length) continue;
    const x0 = Math.min(...rects.map((r) => r.x)) - 16;
    const y0 = Math.min(...rects.map((r) => r.y)) - 26;
    const x1 = Math.max(...rects.map((r) => r.x + r.w)) + 16;
    const y1 = Math.max(...rects.map((r) => r.y + r.h)) + 14;
    compoundRects.set(c.id, { key: c.key, rect: { x: x0, y: y0, w: x1 - x0, h: y1 - y0 }, leaves });
  }

  // ---- edges: one per (declaring node, target), events merged
  const rootId = machine.root.id;
  const edges = new Map<string, DiagramEdge & { origin: Rect; live: boolean }>();
  const rootNotes = new Map<string, Set<string>>();
  const availableFromCurrent = new Set(
    table.transitions.filter((r) => r.source === current && r.target !== r.source).map((r) => `${r.event}>${r.target}`),
  );
  // An (event, target) reachable from nearly every state is a rule, not an arrow: it goes into the note.
  const sourcesOf = new Map<string, Set<string>>();
  for (const r of table.transitions) {
    if (r.source === r.target) continue;
    const k = `${r.event}>${r.target}`;
    if (!sourcesOf.has(k)) sourcesOf.set(k, new Set());
    sourcesOf.get(k)!.add(r.source);
  }
  const isRule = (event: string, target: string) => (sourcesOf.get(`${event}>${target}`)?.size ?? 0) >= table.states.length - 2;
  for (const r of table.transitions) {
    if (r.source === r.target) continue;
    // ...except between the first two layers (unconfigured ⇄ ready), where the rule is the story itself.
    const topPair = (layerOf.get(r.source) ?? 9) <= 1 && (layerOf.get(r.target) ?? 9) <= 1;
    if (r.declaredIn === rootId || (isRule(r.event, r.target) && !topPair)) {
      if (!rootNotes.has(r.target)) rootNotes.set(r.target, new Set());
      rootNotes.get(r.target)!.add(r.event);
      continue;
    }
    const compound = compoundRects.get(r.declaredIn);
    const originName = compound ? compound.key : r.source;
    const origin = compound ? compound.rect : pos.get(r.source);
    const target = pos.get(r.target);
    if (!origin || !target) continue;
    if (compound && compound.leaves.includes(r.target)) continue; // drawn from its own leaf instead
    const key = `${originName}>${r.target}`;
    const edge = edges.get(key) ?? { from: originName, to: r.target, events: [], origin, live: false };
    if (!edge.events.includes(r.event)) edge.events.push(r.event);
    if (availableFromCurrent.has(`${r.event}>${r.target}`) && (r.source === current || compound?.leaves.includes(current ?? ''))) {
      edge.live = true;
    }
    edges.set(key, edge);
  }

  const width = MARGIN * 2 + cols * COL_W;
  const height = TOP + layers.length * ROW_H + 70;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" ` +
      `role="img" aria-labelledby="sc-title" class="statechart" font-family="system-ui, sans-serif">`,
    `<title id="sc-title">Statechart of the OAuth device${current ? `; current state ${esc(current)}` : ''}</title>`,
    '<defs>',
    '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">' +
      '<path d="M0,0 L10,5 L0,10 z" fill="#7a8694"/></marker>',
    '<marker id="arrow-live" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">' +
      '<path d="M0,0 L10,5 L0,10 z" fill="#1565c0"/></marker>',
    '</defs>',
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
  );

  for (const { key, rect } of compoundRects.values()) {
    out.push(
      `<g class="compound"><rect x="${rect.x}" y="${rect.y}" width="${rect.w}" height="${rect.h}" rx="14" ` +
        `fill="#f4f7fa" stroke="#b8c4d0" stroke-dasharray="5 4"/>` +
        `<text x="${rect.x + 12}" y="${rect.y + 17}" font-size="12" font-weight="600" fill="#5b6b7b">${esc(key)}</text></g>`,
    );
  }

  // Edges under the boxes; bidirectional pairs bend to opposite sides.
  const sorted = [...edges.values()].sort((a, b) => Number(a.live) - Number(b.live));
  for (const e of sorted) {
    const a = e.origin;
    const b = pos.get(e.to)!;
    const ca = { x: a.x + a.w / 2, y: a.y + a.h / 2 };
    const cb = { x: b.x + b.w / 2, y: b.y + b.h / 2 };
    const dx = cb.x - ca.x;
    const dy = cb.y - ca.y;
    const len = Math.hypot(dx, dy) || 1;
    const bend = Math.min(60, 28 + len * 0.1);
    const ctrl = { x: (ca.x + cb.x) / 2 - (dy / len) * bend, y: (ca.y + cb.y) / 2 + (dx / len) * bend };
    const p0 = clip(a, ctrl);
    const p1 = clip(b, ctrl);
    const mid = { x: 0.25 * p0.x + 0.5 * ctrl.x + 0.25 * p1.x, y: 0.25 * p0.y + 0.5 * ctrl.y + 0.25 * p1.y };
    const shown = e.events.length > 2 ? `${e.events.slice(0, 2).join(', ')} +${e.events.length - 2}` : e.events.join(', ');
    // Labels sit on the outer side of the bend, so the two arrows of a pair do not print over each other.
    const nx = -dy / len;
    const anchor = nx > 0.5 ? 'start' : nx < -0.5 ? 'end' : 'middle';
    const lx = mid.x + (anchor === 'end' ? -4 : anchor === 'start' ? 4 : 0);
    const colour = e.live ? '#1565c0' : '#7a8694';
    out.push(
      `<g class="edge${e.live ? ' live' : ''}"><title>${esc(`${e.from} → ${e.to}: ${e.events.join(', ')}`)}</title>` +
        `<path d="M${p0.x.toFixed(1)},${p0.y.toFixed(1)} Q${ctrl.x.toFixed(1)},${ctrl.y.toFixed(1)} ${p1.x.toFixed(1)},${p1.y.toFixed(1)}" ` +
        `fill="none" stroke="${colour}" stroke-width="${e.live ? 2.2 : 1.3}" marker-end="url(#${e.live ? 'arrow-live' : 'arrow'})"/>` +
        `<text x="${lx.toFixed(1)}" y="${(mid.y + 3).toFixed(1)}" font-size="10.5" text-anchor="${anchor}" fill="${e.live ? '#0d47a1' : '#46525e'}" ` +
        `stroke="#ffffff" stroke-width="3" paint-order="stroke">${esc(shown)}</text></g>`,
    );
  }

  for (const [state, r] of pos) {
    const isCurrent = state === current;
    out.push(
      `<g class="state${isCurrent ? ' current' : ''}" data-state="${esc(state)}">` +
        `<rect x="${r.x}" y="${r.y}" width="${r.w}" height="${r.h}" rx="10" ` +
        `fill="${isCurrent ? '#ffe08a' : '#ffffff'}" stroke="${isCurrent ? '#b07800' : '#5b6b7b'}" stroke-width="${isCurrent ? 3 : 1.4}"/>` +
        `<text x="${r.x + r.w / 2}" y="${r.y + r.h / 2 + 5}" font-size="14" text-anchor="middle" font-weight="${isCurrent ? 700 : 500}" fill="#1d2733">${esc(state)}</text>` +
        (isCurrent ? `<text x="${r.x + r.w / 2}" y="${r.y - 6}" font-size="10" text-anchor="middle" fill="#8a5a00" font-weight="700">CURRENT</text>` : '') +
        '</g>',
    );
  }

  const initial = pos.get(table.states[0] ?? '');
  if (initial) {
    out.push(
      `<circle cx="${initial.x - 40}" cy="${initial.y + initial.h / 2}" r="7" fill="#1d2733"/>` +
        `<path d="M${initial.x - 33},${initial.y + initial.h / 2} L${initial.x},${initial.y + initial.h / 2}" stroke="#1d2733" stroke-width="1.4" marker-end="url(#arrow)"/>`,
    );
  }

  let noteY = TOP + layers.length * ROW_H + 24;
  const rules = [...rootNotes].map(([target, events]) => `${[...events].join(', ')} → ${target}`);
  const notes = [
    `From (nearly) every state: ${rules.join('; ')}.`,
    'SAVE_SETTINGS lands in ready (complete OAuth settings, new account) or unconfigured (OAuth turned off).',
    'Blue arrows: what the current state can do next. Hover an arrow for all its events.',
  ];
  for (const note of notes) {
    out.push(`<text x="${MARGIN}" y="${noteY}" font-size="12" fill="#46525e">${esc(note)}</text>`);
    noteY += 18;
  }
  out.push('</svg>');
  return out.join('\n');
}
