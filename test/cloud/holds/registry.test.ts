/** The hold registry on its own: which hold catches, what it keeps, its bounds, and that views are copies. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FINISHED_HOLDS_KEPT, HoldError, HoldRegistry, MAX_LIVE_HOLDS } from '../../../src/cloud/holds.ts';
import { WireJournal } from '../../../src/cloud/journal/wire-journal.ts';

const T0 = Date.parse('2026-01-05T08:00:00Z');
const registry = () => {
  const journal = new WireJournal(() => T0);
  return { holds: new HoldRegistry({ now: () => T0, journal }), journal };
};
const req = { client: '127.0.0.1' };

afterEach(() => {
  vi.useRealTimers();
});

describe('HoldRegistry', () => {
  it('the first armed hold that matches catches, and only once', async () => {
    const { holds } = registry();
    const a = holds.add({ target: 'smtp-auth', match: { upn: 'Scanner@Contoso.com' } });
    const b = holds.add({ target: 'smtp-auth' });
    const first = holds.wait('smtp-auth', { ...req, upn: 'frontdesk@contoso.com' });
    expect(holds.get(b.id).state).toBe('holding');
    expect(holds.get(a.id).state).toBe('armed');
    const second = holds.wait('smtp-auth', { ...req, upn: 'scanner@contoso.com' });
    expect(holds.get(a.id).state).toBe('holding');
    expect(await holds.wait('smtp-auth', { ...req, upn: 'scanner@contoso.com' })).toBeNull();
    holds.release(b.id);
    holds.release(a.id, { kind: 'reply', reply: '432 4.3.2 Concurrent connections limit exceeded.' });
    expect(await first).toBeNull();
    expect(await second).toEqual({ kind: 'reply', reply: '432 4.3.2 Concurrent connections limit exceeded.' });
  });

  it('a request of another target or grant type is not caught', async () => {
    const { holds } = registry();
    const h = holds.add({ target: 'token', grantType: 'client_credentials' });
    expect(await holds.wait('device-code', req)).toBeNull();
    expect(await holds.wait('token', { ...req, grantType: 'refresh_token' })).toBeNull();
    expect(await holds.wait('token', req)).toBeNull();
    expect(holds.get(h.id).state).toBe('armed');
  });

  it('times out on wall time with the configured outcome and a journal entry', async () => {
    vi.useFakeTimers();
    const { holds, journal } = registry();
    const h = holds.add({ target: 'smtp-data', timeoutMs: 5_000, onTimeout: { kind: 'drop' } });
    const waiting = holds.wait('smtp-data', { ...req, session: 's1', upn: 'scanner@contoso.com' });
    vi.advanceTimersByTime(4_999);
    expect(holds.get(h.id).state).toBe('holding');
    vi.advanceTimersByTime(1);
    expect(await waiting).toEqual({ kind: 'drop' });
    expect(holds.get(h.id)).toMatchObject({ state: 'timed-out', outcome: { kind: 'drop' } });
    expect(journal.list().map((e) => (e.kind === 'hold' ? [e.event, e.answer, e.session] : []))).toEqual([
      ['hold.caught', undefined, 's1'],
      ['hold.timed-out', 'drop', 's1'],
    ]);
  });

  it('a release clears the timer: no timeout entry after it', async () => {
    vi.useFakeTimers();
    const { holds, journal } = registry();
    const h = holds.add({ target: 'device-code', timeoutMs: 1_000 });
    const waiting = holds.wait('device-code', req);
    holds.release(h.id);
    vi.advanceTimersByTime(10_000);
    expect(await waiting).toBeNull();
    expect(journal.list().map((e) => (e.kind === 'hold' ? e.event : ''))).toEqual(['hold.caught', 'hold.released']);
  });

  it('bounds: at most MAX_LIVE_HOLDS live, FINISHED_HOLDS_KEPT finished', () => {
    const { holds } = registry();
    for (let i = 0; i < MAX_LIVE_HOLDS; i++) holds.add({ target: 'device-code' });
    expect(() => holds.add({ target: 'device-code' })).toThrow(HoldError);
    expect(holds.list()).toHaveLength(MAX_LIVE_HOLDS);
    expect(holds.cancelAll()).toBe(MAX_LIVE_HOLDS);
    for (let i = 0; i < 5; i++) holds.cancel(holds.add({ target: 'token' }).id);
    expect(holds.list()).toHaveLength(FINISHED_HOLDS_KEPT);
    expect(holds.list().every((h) => h.state === 'cancelled')).toBe(true);
  });

  it('views are copies: changing one changes nothing inside', async () => {
    const { holds } = registry();
    const h = holds.add({ target: 'smtp-auth', match: { upn: 'a@contoso.com' } });
    h.match!.upn = 'b@contoso.com';
    (h as { state: string }).state = 'released';
    expect(holds.get(h.id)).toMatchObject({ state: 'armed', match: { upn: 'a@contoso.com' } });
    const waiting = holds.wait('smtp-auth', { ...req, upn: 'a@contoso.com' });
    holds.get(h.id).caught!.upn = 'x';
    expect(holds.get(h.id).caught!.upn).toBe('a@contoso.com');
    holds.cancel(h.id);
    expect(await waiting).toBeNull();
  });

  it('a refused spec or release changes nothing', async () => {
    const { holds, journal } = registry();
    expect(() => holds.add({ target: 'smtp-connect', match: { upn: 'a@b' } })).toThrow(/upn/);
    expect(() => holds.add({ target: 'token', timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(holds.list()).toEqual([]);
    const h = holds.add({ target: 'token' });
    const waiting = holds.wait('token', req);
    expect(() => holds.release(h.id, { kind: 'reply', reply: '535 5.7.3 x' })).toThrow(/no meaning/);
    expect(() => holds.release(h.id, { kind: 'error' } as never)).toThrow(/needs error/);
    expect(holds.get(h.id).state).toBe('holding');
    expect(journal.list()).toHaveLength(1);
    holds.release(h.id, { kind: 'error', error: 'temporarily_unavailable', status: 503 });
    expect(await waiting).toEqual({ kind: 'error', error: 'temporarily_unavailable', status: 503 });
  });

  it('close lets held requests proceed and answers long polls at once', async () => {
    vi.useFakeTimers();
    const { holds } = registry();
    const armed = holds.add({ target: 'smtp-connect' });
    const held = holds.add({ target: 'smtp-auth' });
    const waiting = holds.wait('smtp-auth', req);
    const poll = holds.until(armed.id, 'holding', 60_000);
    holds.close();
    expect(await waiting).toBeNull();
    expect((await poll).state).toBe('cancelled');
    expect(holds.get(held.id).state).toBe('cancelled');
    // A poll after the close does not wait either.
    const late = holds.add({ target: 'device-code' });
    expect((await holds.until(late.id, 'holding', 60_000)).state).toBe('armed');
  });
});

