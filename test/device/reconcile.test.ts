/** The reconciliation rules of src/device/reconcile.ts, as a table over plain data (docs/nvram.md, "Spool and NVRAM agree"). */
import { describe, expect, it } from 'vitest';
import { mayHaveLostNewerBank, planReconcile } from '../../src/device/reconcile.ts';
import { factoryDefaults, type JobRecord, type NvramData } from '../../src/nvram/schema.ts';
import type { DoneRecord, SpoolEntry } from '../../src/device/spool.ts';

const job = (id: string, status: JobRecord['status']): JobRecord => ({
  id, messageId: `<${id}@sim>`, status, to: ['bob@contoso.com'], subject: id, contentPath: `spool/${id}.json`, attempts: 0, reply: null, createdAt: 1, updatedAt: 2,
});
const done = (id: string, status: DoneRecord['status'] = 'sent'): DoneRecord => ({ status, reply: '250 2.0.0 OK', at: 3, messageId: `<${id}@sim>` });
const data = (spool: JobRecord[], jobLog: JobRecord[] = []): NvramData => ({ ...factoryDefaults({ id: 'd', serial: 'S' }), spool, jobLog });
const entry = (id: string, hasContent: boolean, d: DoneRecord | null = null): SpoolEntry => ({ id, hasContent, done: d });

describe('mayHaveLostNewerBank', () => {
  const facts = (codes: string[], banks: { valid: boolean; seq: number; error: string | null }[] = []) => ({ seq: 10, findings: codes.map((code) => ({ code })), banks });
  it.each([
    [[], [], false],
    [['device-key-changed'], [], false],
    [['bank-erased'], [], true],
    [['no-valid-bank'], [], true],
    [['image-lost'], [], true],
    [['bank-invalid'], [{ valid: false, seq: 11, error: 'payload CRC mismatch' }], true],
    [['bank-invalid'], [{ valid: false, seq: 0, error: 'header damaged' }], true],
    [['bank-invalid'], [{ valid: false, seq: 9, error: 'payload CRC mismatch' }], false],
  ] as const)('%j with banks %j → %s', (codes, banks, expected) => {
    expect(mayHaveLostNewerBank(facts([...codes], [...banks]))).toBe(expected);
  });
});

describe('planReconcile', () => {
  it('a pending job with a done record is finished from it, and retired later', () => {
    const plan = planReconcile(data([job('a', 'sending')]), [entry('a', true, done('a'))], false);
    expect(plan).toMatchObject({ finish: [{ id: 'a', done: { status: 'sent' } }], retire: ['a'], adopt: [], missing: [] });
  });
  it('a pending job without content or done record is missing', () => {
    expect(planReconcile(data([job('a', 'queued')]), [], false)).toMatchObject({ missing: ['a'], retire: [] });
  });
  it('a pending job with its content is left alone', () => {
    expect(planReconcile(data([job('a', 'queued')]), [entry('a', true)], true)).toEqual({ finish: [], restoreFinished: [], adopt: [], missing: [], writeDone: [], retire: [] });
  });
  it('content the bank does not know: adopted only when a newer bank may be lost', () => {
    expect(planReconcile(data([]), [entry('x', true)], true)).toMatchObject({ adopt: ['x'], retire: [] });
    expect(planReconcile(data([]), [entry('x', true)], false)).toMatchObject({ adopt: [], retire: ['x'] });
  });
  it('a finished job of a lost bank goes back to the job log; without a lost bank its files are retired', () => {
    expect(planReconcile(data([]), [entry('x', true, done('x'))], true)).toMatchObject({ restoreFinished: [{ id: 'x' }], retire: ['x'] });
    expect(planReconcile(data([]), [entry('x', true, done('x'))], false)).toMatchObject({ restoreFinished: [], retire: ['x'] });
  });
  it('a finished job whose done record is missing gets one, from the job log', () => {
    const plan = planReconcile(data([], [{ ...job('a', 'failed'), reply: 'dismissed' }]), [entry('a', true)], false);
    expect(plan).toMatchObject({ writeDone: [{ id: 'a', done: { status: 'failed', reply: 'dismissed', messageId: '<a@sim>' } }], retire: ['a'] });
  });
});
