/** WireJournal.subscribe (what tests wait on instead of sleeping), and the journal as a bounded ring. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WireJournal } from '../../../src/cloud/journal/wire-journal.ts';

const smtp = (command: string) => ({ kind: 'smtp' as const, client: '127.0.0.1', session: 's1', command });

describe('WireJournal.subscribe', () => {
  it('hands every entry added from now on to the listener, numbered and stamped, until unsubscribed', () => {
    const journal = new WireJournal(() => Date.parse('2027-01-05T10:00:00Z'), 2);
    journal.add(smtp('CONNECT'));
    const seen: string[] = [];
    const stop = journal.subscribe((e) => seen.push(`${e.seq} ${e.at} ${e.kind === 'smtp' ? e.command : ''}`));
    journal.add(smtp('EHLO'));
    journal.add(smtp('QUIT'));
    stop();
    journal.add(smtp('CONNECT'));
    expect(seen).toEqual(['2 2027-01-05T10:00:00.000Z EHLO', '3 2027-01-05T10:00:00.000Z QUIT']);
    expect(journal.dropped).toBe(2); // the ring still keeps only two
  });

  it("a listener that throws does not fail the twin's request: the entry is kept, the error surfaces on its own", async () => {
    const journal = new WireJournal(() => 0);
    const uncaught = new Promise<unknown>((resolve) => process.once('uncaughtException', resolve));
    journal.subscribe(() => {
      throw new Error('listener bug');
    });
    const later: number[] = [];
    journal.subscribe((e) => later.push(e.seq));
    expect(() => journal.add(smtp('EHLO'))).not.toThrow();
    expect(journal.list()).toHaveLength(1);
    expect(later).toEqual([1]); // the next listener still ran
    await expect(uncaught).resolves.toMatchObject({ message: 'listener bug' });
  });
});

describe('WireJournal as a ring', () => {
  it('keeps the newest `capacity` entries in the order they came, through any number of wraps, and counts the rest', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), fc.array(fc.constantFrom('smtp', 'http'), { maxLength: 40 }), fc.integer({ min: 0, max: 45 }), (capacity, kinds, since) => {
        const journal = new WireJournal(() => 0, capacity);
        for (const kind of kinds) journal.add(kind === 'smtp' ? smtp('NOOP') : { kind: 'http', client: '10.0.0.2', method: 'POST', path: '/token', status: 200, durationMs: 1 });
        const seqs = kinds.map((_, i) => i + 1);
        const kept = seqs.slice(Math.max(0, seqs.length - capacity));
        expect(journal.list().map((e) => e.seq)).toEqual(kept);
        expect(journal.dropped).toBe(seqs.length - kept.length);
        expect(journal.list({ since }).map((e) => e.seq)).toEqual(kept.filter((s) => s > since));
        expect(journal.list({ kind: 'http' }).map((e) => e.seq)).toEqual(kept.filter((s) => kinds[s - 1] === 'http'));
        expect(journal.list({ client: '10.0.0.2' }).map((e) => e.seq)).toEqual(kept.filter((s) => kinds[s - 1] === 'http'));
      }),
    );
  });
});
