/**
 * Test paths from the model. The graph is built by `xstate/graph`'s `getAdjacencyMap` over the system model
 * (statechart + pump + boot deadlines), keyed by `stateKey`, with `filterEvents` = what a tester can apply there.
 * Paths come from a chained walk: from where the walk is, go the shortest way to the nearest edge that takes a row
 * not yet covered, take it, repeat; start a new path (a fresh system) when the path reaches `maxSteps`.
 * `getSimplePaths` is not used: it does not finish on a graph this size (see docs/model-based-testing.md).
 */
import { getAdjacencyMap, type AdjacencyMap } from 'xstate/graph';
import type { ActorLogic, EventObject, Snapshot } from 'xstate';
import type { DeviceContext, LeafState } from '../../machines/oauthDevice.ts';
import { EVENT_LABELS, type EventLabel } from './vocabulary.ts';
import {
  enabledLabels,
  initialSystemState,
  isEnabled,
  leafOf,
  machineTable,
  machineTransitions,
  type MachineTransition,
  modelEvent,
  stateKey,
  SIGNED_IN,
  step,
  type StepResult,
  type SystemState,
} from './systemModel.ts';
import { cachedModelGraph } from './graphCache.ts';

type LabelEvent = EventObject & { type: EventLabel };

export interface ModelGraphEdge {
  label: EventLabel;
  to: string;
  /** Row ids the step takes (the stimulus's row, then the pump's and boot deadlines' rows). */
  rows: string[];
}

export interface ModelGraph {
  initial: string;
  nodes: Map<string, { state: SystemState; edges: ModelGraphEdge[] }>;
  edgeCount: number;
}

/** The system model as actor logic, so `xstate/graph` can traverse it; `onStep` sees every step it takes. */
function systemLogic(transitions: MachineTransition, onStep: (from: SystemState, label: EventLabel, r: StepResult) => void): ActorLogic<Snapshot<unknown>, LabelEvent> {
  return {
    config: {},
    transition: (s: Snapshot<unknown>, e: LabelEvent) => {
      const r = step(s as unknown as SystemState, e.type, transitions);
      onStep(s as unknown as SystemState, e.type, r);
      return r.state as never;
    },
    getInitialSnapshot: () => initialSystemState() as never,
    getPersistedSnapshot: (s: Snapshot<unknown>) => s,
  } as unknown as ActorLogic<Snapshot<unknown>, LabelEvent>;
}

/**
 * The model graph. With `cacheDir` (default: the `MFP_MODEL_GRAPH_CACHE` directory, which vitest.config.ts sets for
 * the test run) it is read from there when the model's sources are unchanged (src/mbt/graphCache.ts), else explored.
 */
export function buildModelGraph(opts: { cacheDir?: string } = {}): ModelGraph {
  const dir = opts.cacheDir ?? process.env.MFP_MODEL_GRAPH_CACHE;
  return dir ? cachedModelGraph(dir, exploreModelGraph) : exploreModelGraph();
}

/** Explores the system model from its initial state (`xstate/graph`), each step taken once. */
export function exploreModelGraph(): ModelGraph {
  // getAdjacencyMap steps the model for every edge; the rows it took are kept so that no edge is stepped twice.
  const taken = new Map<SystemState, Map<EventLabel, string[]>>();
  const transitions = machineTransitions();
  const logic = systemLogic(transitions, (from, label, r) => {
    let byLabel = taken.get(from);
    if (!byLabel) taken.set(from, (byLabel = new Map()));
    byLabel.set(label, r.taken.map((x) => x.row.id));
  });
  const adjacency = getAdjacencyMap(logic, {
    serializeState: (s) => stateKey(s as unknown as SystemState),
    serializeEvent: (e) => e.type,
    events: EVENT_LABELS.map((type) => ({ type })),
    filterEvents: (s, e) => isEnabled(s as unknown as SystemState, e.type),
  }) as AdjacencyMap<Snapshot<unknown>, LabelEvent>;
  const nodes: ModelGraph['nodes'] = new Map();
  let edgeCount = 0;
  for (const [key, value] of Object.entries(adjacency)) {
    const state = value.state as unknown as SystemState;
    const edges: ModelGraphEdge[] = [];
    for (const t of Object.values(value.transitions) as { event: LabelEvent; state: Snapshot<unknown> }[]) {
      const rows = taken.get(state)?.get(t.event.type) ?? step(state, t.event.type, transitions).taken.map((x) => x.row.id);
      edges.push({ label: t.event.type, to: stateKey(t.state as unknown as SystemState), rows });
      edgeCount++;
    }
    nodes.set(key, { state, edges });
  }
  return { initial: stateKey(initialSystemState()), nodes, edgeCount };
}

/** One step of a generated path, as the executor and `mfp-sim paths` use it. */
export interface PathStep {
  label: EventLabel;
  /** The statechart event the model applies (model times; the executor reads real times from the device). */
  event: ReturnType<typeof modelEvent>;
  /** The state `/api/status` must show after the step. */
  expectedState: LeafState;
  /** Rows of `transitionTable` the step takes. */
  rows: string[];
  /** What else can be checked from outside after the step. */
  expect: StepExpectations;
}

export interface StepExpectations {
  /** Jobs the model says are in the spool (current + queued + held). */
  jobsInSpool: number;
  /** Of those, the ones waiting held besides the job in progress (a held job is not the pump's to take). */
  heldInSpool: number;
  /** Whether a token cache must be in NVRAM (signed-in states) or must not be (no account signed in). */
  tokenCache: 'present' | 'absent' | 'either';
  /** Whether this step delivers a job (a SENT row): one more message in the recipient's mailbox. */
  delivers: boolean;
}

export interface GeneratedPath {
  id: string;
  steps: PathStep[];
}

export interface GeneratorOptions {
  /** Start a new path when a path reaches this many steps (default 40). */
  maxSteps?: number;
  /** Rows never to aim for (declared unreachable). */
  skipRows?: ReadonlySet<string>;
}

/** What can be observed after a step, derived from the model state it ends in. */
export function expectationsFor(after: SystemState, rows: string[]): StepExpectations {
  const leaf = leafOf(after);
  const c = after.snapshot.context;
  return {
    jobsInSpool: after.queued + after.held + (c.jobId !== null ? 1 : 0),
    heldInSpool: after.held,
    tokenCache: tokenCacheIn(leaf, c),
    delivers: rows.some((r) => r.includes(':SENT#')),
  };
}

/**
 * The sealed MSAL cache is written with the grant and deleted whenever the statechart deletes tokens; in the sign-in
 * states it was deleted on entry to requestingCode (requestingToken: the same). Basic never has one; app-only is
 * signed in without one after a first token request that failed transiently (no grant yet: no token deadline).
 */
function tokenCacheIn(leaf: LeafState, c: DeviceContext): StepExpectations['tokenCache'] {
  if (SIGNED_IN.has(leaf)) return c.method === 'basic' || (c.method === 'appOnly' && c.accessTokenExpiresAt === null) ? 'absent' : 'present';
  const signedOut: LeafState[] = ['authFailed', 'unconfigured', 'ready', 'requestingCode', 'codePending', 'reauthRequired', 'requestingToken'];
  return signedOut.includes(leaf) ? 'absent' : 'either';
}

export function toPathStep(before: SystemState, label: EventLabel): { step: PathStep; after: SystemState } {
  const r = step(before, label);
  const rows = r.taken.map((t) => t.row.id);
  return {
    after: r.state,
    step: { label, event: modelEvent(before, label), expectedState: leafOf(r.state), rows, expect: expectationsFor(r.state, rows) },
  };
}

/** Chained walk to the nearest uncovered row (BFS over the model graph), restarting at `maxSteps`. */
export function generatePaths(graph: ModelGraph, opts: GeneratorOptions = {}): GeneratedPath[] {
  const maxSteps = opts.maxSteps ?? 40;
  const skip = opts.skipRows ?? new Set<string>();
  const uncovered = new Set(machineTable().transitions.map((r) => r.id).filter((id) => !skip.has(id)));
  const paths: GeneratedPath[] = [];
  let labels: EventLabel[] = [];
  let at = graph.initial;

  const flush = () => {
    if (labels.length > 0) paths.push(materialize(`path-${paths.length + 1}`, labels));
    labels = [];
    at = graph.initial;
  };

  for (;;) {
    const route = nearestUncovered(graph, at, uncovered);
    if (!route) {
      if (at === graph.initial) break;
      flush();
      continue;
    }
    if (labels.length > 0 && labels.length + route.length > maxSteps) {
      flush();
      continue;
    }
    for (const edge of route) {
      labels.push(edge.label);
      for (const id of edge.rows) uncovered.delete(id);
      at = edge.to;
    }
  }
  flush();
  return paths;
}

function nearestUncovered(graph: ModelGraph, from: string, uncovered: Set<string>): ModelGraphEdge[] | null {
  const prev = new Map<string, { key: string; edge: ModelGraphEdge } | null>([[from, null]]);
  const queue = [from];
  while (queue.length > 0) {
    const key = queue.shift()!;
    for (const edge of graph.nodes.get(key)!.edges) {
      if (edge.rows.some((id) => uncovered.has(id))) {
        const route = [edge];
        for (let k = key; prev.get(k); k = prev.get(k)!.key) route.unshift(prev.get(k)!.edge);
        return route;
      }
      if (!prev.has(edge.to)) {
        prev.set(edge.to, { key, edge });
        queue.push(edge.to);
      }
    }
  }
  return null;
}

/** Replays labels on the model from the initial state into path steps (also used for walks and saved scenarios). */
export function materialize(id: string, labels: readonly EventLabel[]): GeneratedPath {
  let s = initialSystemState();
  const steps: PathStep[] = [];
  for (const label of labels) {
    if (!enabledLabels(s).includes(label)) throw new Error(`${id}: ${label} is not enabled in ${stateKey(s)}`);
    const r = toPathStep(s, label);
    steps.push(r.step);
    s = r.after;
  }
  return { id, steps };
}
