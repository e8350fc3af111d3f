/**
 * The statechart as a flat table: one row per leaf state and per branch it can take, with transitions inherited from
 * parent states expanded onto each leaf. This is the unit of transition coverage (see
 * ../shared/reference/model-based-testing.md): a root-level FACTORY_RESET counts once per leaf, not once.
 *
 * XState v5 semantics decide what can fire: for an event, a leaf's own branches are tried in order, then (if every
 * one was guarded and none passed) its parent's, and so on. So a leaf's branches for an event are its own, then its
 * ancestors', cut after the first unguarded branch: later ones can never fire and are left out.
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';

export interface TransitionRow {
  /** Stable id, e.g. "codePending:TOKEN_GRANTED#0". */
  id: string;
  source: string;
  event: string;
  guard: string | null;
  /** Leaf state the branch ends in (a targetless branch stays in `source`). */
  target: string;
  /** The state node that declares the branch (a parent's id for inherited branches). */
  declaredIn: string;
}

export interface TransitionTable {
  states: string[];
  transitions: TransitionRow[];
  /** Finds the row a step took: the leaf it was in and a transition definition from `getTransitionData`. */
  rowFor(sourceLeaf: string, transition: unknown): TransitionRow | undefined;
}

type TransitionDef = {
  eventType: string;
  guard?: unknown;
  target?: readonly AnyStateNode[] | undefined;
};

export function transitionTable(machine: AnyStateMachine): TransitionTable {
  const leaves = collectLeaves(machine.root);
  const rows: TransitionRow[] = [];
  const byDef = new Map<string, Map<unknown, TransitionRow>>();

  for (const leaf of leaves) {
    const chain: AnyStateNode[] = [];
    for (let n: AnyStateNode | undefined = leaf; n; n = n.parent) chain.push(n);
    const events = new Set<string>();
    for (const n of chain) for (const e of n.transitions.keys()) events.add(e);
    const leafMap = new Map<unknown, TransitionRow>();
    byDef.set(leaf.key, leafMap);

    for (const event of [...events].sort()) {
      let index = 0;
      let closed = false;
      for (const n of chain) {
        if (closed) break;
        for (const def of (n.transitions.get(event) ?? []) as TransitionDef[]) {
          const row: TransitionRow = {
            id: `${leaf.key}:${event}#${index++}`,
            source: leaf.key,
            event,
            guard: guardName(def.guard),
            target: def.target && def.target.length > 0 ? leafOf(def.target[0]!).key : leaf.key,
            declaredIn: n.id,
          };
          rows.push(row);
          leafMap.set(def, row);
          if (def.guard === undefined) {
            closed = true;
            break;
          }
        }
      }
    }
  }

  return {
    states: leaves.map((l) => l.key),
    transitions: rows,
    rowFor: (sourceLeaf, transition) => byDef.get(sourceLeaf)?.get(transition),
  };
}

function collectLeaves(node: AnyStateNode): AnyStateNode[] {
  const children = Object.values(node.states) as AnyStateNode[];
  if (children.length === 0) return [node];
  return children.flatMap(collectLeaves);
}

/** A compound target resolves to its initial leaf, recursively. */
function leafOf(node: AnyStateNode): AnyStateNode {
  let n = node;
  while (Object.keys(n.states).length > 0) {
    const initialTarget = n.initial?.target?.[0] as AnyStateNode | undefined;
    if (!initialTarget) break;
    n = initialTarget;
  }
  return n;
}

function guardName(guard: unknown): string | null {
  if (guard === undefined) return null;
  if (typeof guard === 'string') return guard;
  if (guard && typeof guard === 'object' && 'type' in guard) return String((guard as { type: unknown }).type);
  if (typeof guard === 'function') return guard.name || 'inline';
  return 'inline';
}

/** Mermaid stateDiagram-v2 text of the same table (one line per distinct source→target for an event). */
export function toMermaid(table: TransitionTable, highlight?: string): string {
  const lines = ['stateDiagram-v2', '  [*] --> unconfigured'];
  const seen = new Set<string>();
  for (const r of table.transitions) {
    const label = r.guard ? `${r.event} [${r.guard}]` : r.event;
    const key = `${r.source}|${r.target}|${label}`;
    if (seen.has(key)) continue;
    seen.add(key);
    lines.push(`  ${r.source} --> ${r.target} : ${label}`);
  }
  if (highlight) {
    lines.push('  classDef current fill:#ffe08a,stroke:#b07800,stroke-width:3px');
    lines.push(`  class ${highlight} current`);
  }
  return lines.join('\n') + '\n';
}
