/**
 * boot.ts's pure rules on their own: which stored snapshots are restored (and what of them is kept), the boot
 * report's outcome, its warnings, and the event line of discarded secrets. The device suites reach these through
 * whole boots; here each refusal and each fallback is pinned.
 */
import { describe, expect, it } from 'vitest';
import { bootReport, bootWarnings, discardUnopenableSecrets, isObject, restoreSnapshot } from '../../src/device/boot.ts';
import type { BootInfo } from '../../src/nvram/index.ts';
import { factoryDefaults } from '../../src/nvram/schema.ts';

const stored = (over: Record<string, unknown> = {}) => ({ value: 'ready', context: { account: 'scanner@contoso.com' }, since: 7, ...over });

describe('restoreSnapshot', () => {
  it('refuses what is not a stored snapshot: not an object, no value, no context object', () => {
    for (const s of [null, undefined, 'ready', 42, [], { context: {} }, { value: 'ready' }, { value: 'ready', context: null }, { value: 'ready', context: [] }, { value: 'ready', context: 'x' }]) {
      expect(restoreSnapshot(s, 0), JSON.stringify(s)).toBeNull();
    }
  });

  it('refuses a state the statechart does not have (null, not undefined)', () => {
    expect(restoreSnapshot(stored({ value: 'noSuchState' }), 0)).toBeNull();
  });

  it('keeps its since when it is a number, else takes now', () => {
    expect(restoreSnapshot(stored(), 99)?.since).toBe(7);
    expect(restoreSnapshot(stored({ since: '7' }), 99)?.since).toBe(99);
    expect(restoreSnapshot(stored({ since: undefined }), 99)?.since).toBe(99);
  });

  it('reads a stored last error only when it has a string reason; a reply only when it is a string', () => {
    const ctx = (lastError: unknown) => restoreSnapshot(stored({ value: 'authFailed', context: { account: 'a@contoso.com', lastError } }), 0)?.snapshot.context.lastError;
    expect(ctx(null)).toBeNull();
    expect(ctx({ reason: 5 })).toBeNull();
    expect(ctx('declined')).toBeNull();
    expect(ctx({ reason: 'declined', reply: 7 })).toEqual({ reason: 'declined', code: null, reply: null });
    expect(ctx({ reason: 'declined', reply: 'AADSTS70000: declined', code: 'AADSTS70000' })).toEqual({
      reason: 'declined',
      code: { kind: 'aadsts', value: '70000' },
      reply: 'AADSTS70000: declined',
    });
  });

  it('isObject: plain objects only', () => {
    expect([{}, { a: 1 }].map(isObject)).toEqual([true, true]);
    expect([null, [], 'x', 1, undefined].map(isObject)).toEqual([false, false, false, false, false]);
  });
});

const cleanBoot: BootInfo = { bank: 'A', seq: 4, recovered: false, reason: null, migratedFrom: null, findings: [], keyChanged: false };
const report = (nvram: Partial<BootInfo>, snapshot: 'restored' | 'unreadable' | 'none' = 'restored', extra?: { code: string; detail: string }[]) =>
  bootReport({ at: 1, nvram: { ...cleanBoot, ...nvram }, snapshot, stateBefore: 'ready', stateAfter: 'ready', transitions: [], ...(extra ? { extra } : {}) });

describe('bootReport: outcome', () => {
  it('restored when nothing was wrong, fresh on a first boot', () => {
    expect(report({})).toMatchObject({ outcome: 'restored', reasons: [] });
    expect(report({}, 'none')).toMatchObject({ outcome: 'fresh', reasons: [{ code: 'first-boot' }] });
  });

  it('recovered for each cause alone: the NVRAM recovered, a finding, an unreadable snapshot, a runtime finding', () => {
    expect(report({ recovered: true }).outcome).toBe('recovered');
    expect(report({ findings: [{ code: 'bank-invalid', message: 'bank B: payload CRC mismatch' }] })).toMatchObject({
      outcome: 'recovered',
      reasons: [{ code: 'bank-invalid', detail: 'bank B: payload CRC mismatch' }],
    });
    expect(report({}, 'unreadable')).toMatchObject({ outcome: 'recovered', reasons: [{ code: 'snapshot-unreadable' }] });
    expect(report({}, 'restored', [{ code: 'spool-reconciled', detail: 'x' }])).toMatchObject({ outcome: 'recovered', reasons: [{ code: 'spool-reconciled', detail: 'x' }] });
  });

  it('a migration is said, but is not a recovery', () => {
    expect(report({ migratedFrom: 1 })).toMatchObject({ outcome: 'restored', reasons: [{ code: 'migrated', detail: 'migrated from firmware 1', data: { from: 1 } }] });
  });
});

describe('bootWarnings', () => {
  it('leaves out the informational reasons (first boot, migration), keeps the rest in order', () => {
    const reasons = [
      { code: 'first-boot', detail: 'a' },
      { code: 'bank-invalid', detail: 'b' },
      { code: 'migrated', detail: 'c' },
      { code: 'spool-reconciled', detail: 'd' },
    ];
    expect(bootWarnings({ reasons })).toEqual([reasons[1], reasons[3]]);
    expect(bootWarnings({ reasons: [] })).toEqual([]);
  });
});

describe('discardUnopenableSecrets', () => {
  it('nothing to drop: no step; else one step that drops them and says which', () => {
    expect(discardUnopenableSecrets([], 5)).toBeUndefined();
    const draft = factoryDefaults({ id: 'd', serial: 's' });
    draft.secrets = { a: { x: 1 }, b: { x: 2 }, keep: { x: 3 } } as unknown as typeof draft.secrets;
    discardUnopenableSecrets(['a', 'b'], 5)!(draft);
    expect(Object.keys(draft.secrets)).toEqual(['keep']);
    expect(draft.eventLog.at(-1)).toEqual({
      at: 5,
      kind: 'nvram.secrets-discarded',
      message: 'discarded 2 sealed secret(s) the device key cannot open: a, b',
      data: { reason: 'device-key-changed', secrets: ['a', 'b'] },
    });
  });
});
