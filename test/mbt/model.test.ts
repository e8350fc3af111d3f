/**
 * The generator and the coverage count, on the model alone (no system): every row of the statechart's table is
 * either reached by the generated paths or declared unreachable with a reason, and the count is the table's, not the
 * generator's. The same for the opt-in criterion, transition pairs (src/mbt/pairs.ts): derived from the graph, every
 * reachable pair taken by the pair paths.
 */
import { describe, expect, it } from 'vitest';
import { oauthDeviceMachine, LEAF_STATES } from '../../machines/oauthDevice.ts';
import { transitionTable } from '../../src/model/transitionTable.ts';
import { buildModelGraph, generatePaths, materialize } from '../../src/mbt/generator.ts';
import { UNREACHABLE_ROWS } from '../../src/mbt/unreachable.ts';
import { staleUnreachableDeclarations } from '../../src/mbt/coverage.ts';
import { initialSystemState, stateKey, step, type SystemState } from '../../src/mbt/systemModel.ts';
import { generatePairPaths, pairKey, pairsOfPath, pairsOfStep, PairCoverageTracker, reachablePairs } from '../../src/mbt/pairs.ts';
import { modelGraphKey, modelSourceFiles, reviveModelGraph, serializeModelGraph } from '../../src/mbt/graphCache.ts';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { suiteTiming } from './suiteTiming.ts';

suiteTiming('model'); // the model alone: all of its time is outside the system

const graph = buildModelGraph();
const table = transitionTable(oauthDeviceMachine);
const skipRows = new Set(Object.keys(UNREACHABLE_ROWS));

describe('model graph and generated paths', () => {
  it('counts the rows transitionTable lists (145 today: issue 14 added basic and app-only), POWER_CYCLE from every leaf included', () => {
    expect(table.transitions.length).toBe(145);
    const powerSources = new Set(table.transitions.filter((r) => r.event === 'POWER_CYCLE').map((r) => r.source));
    expect([...powerSources].sort()).toEqual([...LEAF_STATES].sort());
  });

  it('the paths take every row not declared unreachable', () => {
    const paths = generatePaths(graph, { skipRows });
    const taken = new Set(paths.flatMap((p) => p.steps.flatMap((s) => s.rows)));
    const missing = table.transitions.map((r) => r.id).filter((id) => !taken.has(id) && !skipRows.has(id));
    expect(missing).toEqual([]);
    expect(paths.length).toBeLessThan(15);
    expect(paths.every((p) => p.steps.length <= 40)).toBe(true);
  });

  it('no edge of the model graph takes a row declared unreachable, and every declaration names a real row', () => {
    const taken = new Set([...graph.nodes.values()].flatMap((n) => n.edges.flatMap((e) => e.rows)));
    for (const id of Object.keys(UNREACHABLE_ROWS)) expect(taken.has(id), id).toBe(false);
    expect(staleUnreachableDeclarations()).toEqual([]);
  });

  it('the graph key keeps guard-relevant context apart (a counter changes the key, a deadline value does not)', () => {
    const signedIn = ['SAVE_SETTINGS:accountA', 'START_AUTH', 'CODE_ISSUED', 'TOKEN_GRANTED:configured', 'SEND'] as const;
    let s = initialSystemState();
    for (const l of signedIn) s = step(s, l).state;
    const failed = step(s, 'SEND_FAILED:transient').state;
    expect(failed.snapshot.context.sendRetries).toBe(1);
    expect(stateKey(failed)).not.toBe(stateKey(step(s, 'SEND_FAILED:permanent').state));
    const later = { ...failed, snapshot: failed.snapshot }; // same snapshot, other model time
    expect(stateKey({ ...later, now: later.now + 12345 })).toBe(stateKey(failed));
  });

  it('predicts the job pump: a job held before sign-in goes out as soon as the token arrives', () => {
    const p = materialize('pump', ['SAVE_SETTINGS:accountA', 'SEND', 'START_AUTH', 'CODE_ISSUED', 'TOKEN_GRANTED:configured']);
    const last = p.steps.at(-1)!;
    expect(last.expectedState).toBe('sending');
    expect(last.rows).toEqual(['codePending:TOKEN_GRANTED#0', 'authorized:SEND#0']);
  });

  it('predicts deadlines raised at boot: a transient send failure retries right after a long power cut', () => {
    const p = materialize('boot', [
      'SAVE_SETTINGS:accountA', 'START_AUTH', 'CODE_ISSUED', 'TOKEN_GRANTED:configured', 'SEND', 'SEND_FAILED:transient',
      'POWER_CYCLE:deadlinePassed',
    ]);
    // #0 is the changed-key branch; #1 the one that keeps sendFailure.
    expect(p.steps.at(-1)!.rows).toEqual(['sendFailure:POWER_CYCLE#1', 'sendFailure:ACCESS_TOKEN_DEADLINE#0', 'sendFailure:RETRY_DUE#0']);
    expect(p.steps.at(-1)!.expectedState).toBe('refreshing');
  });

  it('predicts pairs-63: a job retried into refreshing comes back queued after a power cut, and the pump takes it', () => {
    const p = materialize('pairs-63', [
      'SAVE_SETTINGS:accountA', 'START_AUTH', 'CODE_ISSUED', 'TOKEN_GRANTED:configured', 'SEND', 'SEND_FAILED:permanent',
      'ACCESS_TOKEN_DEADLINE', 'RETRY', 'POWER_CYCLE:deadlinePassed',
    ]);
    // No deadline at boot (tokenExpired does not listen for the access deadline): the pump's SEND is what refreshes.
    expect(p.steps.at(-1)!.rows).toEqual(['refreshing:POWER_CYCLE#1', 'tokenExpired:SEND#0']);
    expect(p.steps.at(-1)!.expectedState).toBe('refreshing');
    expect(p.steps.at(-1)!.expect).toMatchObject({ jobsInSpool: 1, heldInSpool: 0 });
  });

  it('predicts a changed device key: reauthRequired with the job held, no token cache; a new sign-in sends it', () => {
    const signedIn = ['SAVE_SETTINGS:accountA', 'START_AUTH', 'CODE_ISSUED', 'TOKEN_GRANTED:configured'] as const;
    const p = materialize('key', [...signedIn, 'SEND', 'SEND_FAILED:permanent', 'POWER_CYCLE:keyChanged', 'SEND', 'START_AUTH', 'CODE_ISSUED', 'TOKEN_GRANTED:configured']);
    const boot = p.steps[6]!;
    expect(boot.rows).toEqual(['sendFailure:POWER_CYCLE#0']);
    expect(boot.expectedState).toBe('reauthRequired');
    expect(boot.expect).toMatchObject({ tokenCache: 'absent', jobsInSpool: 1, heldInSpool: 1 });
    expect(p.steps[7]!.rows).toEqual(['reauthRequired:SEND#0']);
    expect(p.steps.at(-1)!.rows).toEqual(['codePending:TOKEN_GRANTED#0', 'authorized:SEND#0']);
    expect(p.steps.at(-1)!.expect.jobsInSpool).toBe(2);
    // Only where a sealed token cache exists can a boot find that the key no longer opens it.
    expect(() => materialize('bad', ['SAVE_SETTINGS:accountA', 'POWER_CYCLE:keyChanged'])).toThrow(/POWER_CYCLE:keyChanged is not enabled/);
  });

  it('refuses a path step the model does not enable', () => {
    expect(() => materialize('bad', ['START_AUTH'])).toThrow(/START_AUTH is not enabled/);
  });
});

describe('transition pairs on the model', () => {
  const reachable = reachablePairs(graph);
  const pairPaths = generatePairPaths(graph);

  it('pairs follow each other within a step and across steps, never from nothing', () => {
    expect(pairsOfStep(null, ['a'])).toEqual([]);
    expect(pairsOfStep(null, ['a', 'b'])).toEqual([pairKey('a', 'b')]);
    expect(pairsOfStep('z', ['a', 'b'])).toEqual([pairKey('z', 'a'), pairKey('a', 'b')]);
  });

  it('derives the reachable pairs from the graph: each pair chains a row into one that starts where it can end', () => {
    // Every row is reachable and is followed (or preceded) by another, so every row is in some pair.
    const inPairs = new Set([...reachable].flatMap((p) => p.split(' → ')));
    expect(table.transitions.map((r) => r.id).filter((id) => !inPairs.has(id))).toEqual([]);
    // A sign-in's first two rows, in order, are a pair; the reverse order is not.
    const first = [...reachable].find((p) => p.startsWith('unconfigured:SAVE_SETTINGS') && p.includes('→ ready:START_AUTH'));
    expect(first).toBeDefined();
    expect([...reachable].some((p) => p.startsWith('ready:START_AUTH') && p.includes('→ unconfigured:'))).toBe(false);
  });

  it('the pair paths take every reachable pair and nothing else', () => {
    const taken = new Set(pairPaths.flatMap((p) => [...pairsOfPath(p)]));
    expect([...reachable].filter((p) => !taken.has(p))).toEqual([]);
    expect([...taken].filter((p) => !reachable.has(p))).toEqual([]);
    expect(pairPaths.every((p) => p.steps.length <= 40)).toBe(true);
  });

  it('the tracker counts covered, uncovered and impossible pairs', () => {
    const tracker = new PairCoverageTracker(new Set([pairKey('a', 'b'), pairKey('b', 'c'), pairKey('c', 'a')]));
    tracker.recordStep(null, ['a']);
    tracker.recordStep('a', ['b', 'x']);
    const report = tracker.report();
    expect(report).toMatchObject({ covered: 1, reachable: 3, percentOfReachable: 33.33 });
    expect(report.uncovered).toEqual([pairKey('b', 'c'), pairKey('c', 'a')]);
    expect(report.notReachable).toEqual([pairKey('b', 'x')]);
  });
});

// The graph above comes from the cache when the model's sources are unchanged (vitest.config.ts sets the directory).
describe('the model graph cache', () => {
  it('gives back states that key and step as explored: every key, and every edge of a sample of states', () => {
    const sample = [...graph.nodes].filter((_, i) => i % 50 === 0);
    for (const [key, node] of graph.nodes) expect(stateKey(node.state)).toBe(key);
    for (const [, node] of sample) {
      for (const edge of node.edges) {
        const r = step(node.state, edge.label);
        expect({ to: stateKey(r.state), rows: r.taken.map((t) => t.row.id) }).toEqual({ to: edge.to, rows: edge.rows });
      }
    }
    // and what the round trip keeps: the whole graph, each snapshot's value and context
    const revived = reviveModelGraph(serializeModelGraph(graph, 'k'), 'k')!;
    expect(revived.initial).toBe(graph.initial);
    expect(revived.edgeCount).toBe(graph.edgeCount);
    const plain = (s: SystemState) => ({ ...s, snapshot: { value: s.snapshot.value, context: s.snapshot.context } });
    for (const [key, node] of sample) expect(plain(revived.nodes.get(key)!.state)).toEqual(plain(node.state));
    expect([...revived.nodes].map(([k, n]) => [k, n.edges])).toEqual([...graph.nodes].map(([k, n]) => [k, n.edges]));
  });

  it('is keyed by the content of every source the model is built from, so a change explores the graph again', async () => {
    const files = modelSourceFiles().map((f) => path.relative(process.cwd(), f));
    expect(files).toEqual(expect.arrayContaining(['machines/oauthDevice.ts', 'src/mbt/systemModel.ts', 'src/mbt/vocabulary.ts', 'src/model/transitionTable.ts', 'src/device/deadlines.ts']));
    const dir = await mkdtemp(path.join(tmpdir(), 'mfp-graph-key-'));
    try {
      const copy = path.join(dir, 'model.ts');
      await writeFile(copy, 'export const a = 1;\n');
      const before = modelGraphKey([copy]);
      expect(modelGraphKey([copy])).toBe(before);
      await writeFile(copy, 'export const a = 2;\n');
      expect(modelGraphKey([copy])).not.toBe(before);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a file of another key, another format or no JSON at all (the graph is explored again)', () => {
    const text = serializeModelGraph(graph, 'k');
    expect(reviveModelGraph(text, 'other')).toBeNull();
    expect(reviveModelGraph(text.replace('"format":1', '"format":0'), 'k')).toBeNull();
    expect(reviveModelGraph(text.slice(0, 1000), 'k')).toBeNull();
  });
});
