/**
 * Holds through the control API with plain HTTP clients (undici): a held OAuth request is answered only once the hold
 * lets it go, with the normal answer or the chosen fault; a hold catches one request; timeouts end it with a journal
 * entry; bad input is refused with RFC 7807 and changes nothing.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { request } from 'undici';
import { VirtualClock } from '../../../src/time/clock.ts';
import { SMTP_SCOPE, api, expectEntraError, oauth, startTestTwin, type TestTwin } from '../helpers.ts';

let twin: TestTwin;
beforeAll(async () => {
  twin = await startTestTwin({ clock: new VirtualClock() });
});
afterAll(async () => {
  await twin?.close();
});
afterEach(async () => {
  await api(twin, 'DELETE', '/_twin/holds');
});

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const codeForm = () => ({ client_id: twin.clientId, scope: `${SMTP_SCOPE} offline_access` });

/** Tracks whether an in-flight request has been answered. */
function inFlight<T>(p: Promise<T>) {
  const t = { settled: false, result: p };
  p.finally(() => (t.settled = true)).catch(() => {});
  return t;
}

/** Polls the hold (wall time) until it reaches `state`. */
async function until(id: string, state: string, timeoutMs = 30_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await api(twin, 'GET', `/_twin/holds/${id}`);
    expect(r.status).toBe(200);
    if (r.json.state === state) return r.json;
    if (Date.now() > deadline) throw new Error(`hold ${id} stayed ${r.json.state} (wanted ${state})`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

async function arm(body: unknown): Promise<any> {
  const r = await api(twin, 'POST', '/_twin/holds', body);
  expect(r.status, r.text).toBe(201);
  expect(r.json).toMatchObject({ state: 'armed' });
  return r.json;
}

const holdEntries = (id: string) =>
  twin.journal.list({ kind: 'hold' }).filter((e) => e.kind === 'hold' && e.hold === id) as Array<Record<string, any>>;

describe('holds on the OAuth endpoints', () => {
  it('a device-code request waits while held, then gets the normal answer; the hold is consumed', async () => {
    const hold = await arm({ target: 'device-code', match: { clientId: twin.clientId } });
    expect(hold.timeoutMs).toBe(30_000);
    const req = inFlight(oauth(twin, '/oauth2/v2.0/devicecode', codeForm()));
    const holding = await until(hold.id, 'holding');
    expect(holding.caught).toMatchObject({ client: '127.0.0.1', clientId: twin.clientId });
    // A round trip of the control API later, the request is still unanswered.
    expect((await api(twin, 'GET', '/_twin/holds')).json.map((h: any) => h.state)).toEqual(['holding']);
    expect(req.settled).toBe(false);

    const released = await api(twin, 'POST', `/_twin/holds/${hold.id}/release`, { outcome: 'proceed' });
    expect(released.status).toBe(200);
    expect(released.json).toMatchObject({ state: 'released', outcome: 'proceed' });
    const res = await req.result;
    expect(res.status).toBe(200);
    expect(res.json.user_code).toMatch(/^[A-Z0-9]+$/);

    // Consumed: the next request is answered without a hold.
    const next = await oauth(twin, '/oauth2/v2.0/devicecode', codeForm());
    expect(next.status).toBe(200);
    expect(holdEntries(hold.id).map((e) => e.event)).toEqual(['hold.caught', 'hold.released']);
    const [caught, rel] = holdEntries(hold.id);
    expect(caught).toMatchObject({ target: 'device-code', clientId: twin.clientId, client: '127.0.0.1' });
    expect(rel).toMatchObject({ answer: 'proceed' });
    expect(rel!.heldMs).toBeGreaterThanOrEqual(0);
    // The request's own entry comes after its release.
    const http = twin.journal.list({ kind: 'http', since: rel!.seq });
    expect(http[0]).toMatchObject({ path: expect.stringMatching(/devicecode$/), status: 200 });
  });

  it('a token hold narrowed to refresh_token lets a device_code poll by and answers the refresh with the chosen fault', async () => {
    const hold = await arm({ target: 'token', grantType: 'refresh_token' });
    const poll = await oauth(twin, '/oauth2/v2.0/token', { grant_type: DEVICE_CODE_GRANT, client_id: twin.clientId, device_code: 'nope' });
    expect(poll.status).toBe(400);
    expect((await api(twin, 'GET', `/_twin/holds/${hold.id}`)).json.state).toBe('armed');

    const refresh = inFlight(oauth(twin, '/oauth2/v2.0/token', { grant_type: 'refresh_token', client_id: twin.clientId, refresh_token: 'x', scope: SMTP_SCOPE }));
    expect((await until(hold.id, 'holding')).caught).toMatchObject({ grantType: 'refresh_token', clientId: twin.clientId });
    expect(refresh.settled).toBe(false);
    const released = await api(twin, 'POST', `/_twin/holds/${hold.id}/release`, {
      outcome: { kind: 'error', error: 'invalid_grant', aadsts: 50173, description: 'The provided grant has expired due to it being revoked.' },
    });
    expect(released.status).toBe(200);
    const res = await refresh.result;
    expect(res.status).toBe(400);
    expect(expectEntraError(res.json)).toMatchObject({ error: 'invalid_grant', error_codes: [50173] });
    expect(holdEntries(hold.id).at(-1)).toMatchObject({ event: 'hold.released', answer: 'error invalid_grant 50173' });
  });

  it('the device_code grant matches both its URN and the short name', async () => {
    const hold = await arm({ target: 'token', grantType: 'device_code' });
    const poll = inFlight(oauth(twin, '/oauth2/v2.0/token', { grant_type: DEVICE_CODE_GRANT, client_id: twin.clientId, device_code: 'nope' }));
    await until(hold.id, 'holding');
    await api(twin, 'POST', `/_twin/holds/${hold.id}/release`, { outcome: { kind: 'throttle', retryAfterSeconds: 7 } });
    const res = await poll.result;
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('7');
  });

  it('a hold for another client or peer catches nothing', async () => {
    const other = await arm({ target: 'device-code', match: { clientId: '00000000-0000-0000-0000-000000000000' } });
    const elsewhere = await arm({ target: 'device-code', match: { client: '192.0.2.10' } });
    expect((await oauth(twin, '/oauth2/v2.0/devicecode', codeForm())).status).toBe(200);
    for (const h of [other, elsewhere]) expect((await api(twin, 'GET', `/_twin/holds/${h.id}`)).json.state).toBe('armed');
  });

  it('an unreleased hold times out (wall time, the virtual clock stands still) with a journal entry, then proceeds', async () => {
    const before = twin.clock.now();
    const hold = await arm({ target: 'device-code', timeoutMs: 150 });
    const res = await oauth(twin, '/oauth2/v2.0/devicecode', codeForm());
    expect(res.status).toBe(200);
    expect(twin.clock.now()).toBe(before);
    const done = (await api(twin, 'GET', `/_twin/holds/${hold.id}`)).json;
    expect(done).toMatchObject({ state: 'timed-out', outcome: 'proceed' });
    expect(holdEntries(hold.id).map((e) => [e.event, e.answer])).toEqual([
      ['hold.caught', undefined],
      ['hold.timed-out', 'proceed'],
    ]);
  });

  it('a timeout can answer a configured outcome instead', async () => {
    const hold = await arm({ target: 'token', timeoutMs: 100, onTimeout: { kind: 'http', status: 503 } });
    const res = await oauth(twin, '/oauth2/v2.0/token', { grant_type: 'refresh_token', client_id: twin.clientId, refresh_token: 'x' });
    expect(res.status).toBe(503);
    expect(holdEntries(hold.id).at(-1)).toMatchObject({ event: 'hold.timed-out', answer: 'http 503' });
    expect((await api(twin, 'GET', `/_twin/holds/${hold.id}`)).json).toMatchObject({
      state: 'timed-out',
      onTimeout: { kind: 'http', status: 503 },
      outcome: { kind: 'http', status: 503 },
      caught: { client: '127.0.0.1', grantType: 'refresh_token', clientId: twin.clientId },
    });
  });

  it('cancelling: an armed hold catches nothing, a holding one lets its request proceed', async () => {
    const armed = await arm({ target: 'device-code' });
    const cancelled = await api(twin, 'DELETE', `/_twin/holds/${armed.id}`);
    expect(cancelled.json).toMatchObject({ state: 'cancelled' });
    expect(cancelled.json.outcome).toBeUndefined();
    expect((await oauth(twin, '/oauth2/v2.0/devicecode', codeForm())).status).toBe(200);
    expect(holdEntries(armed.id)).toEqual([]);

    const holding = await arm({ target: 'device-code' });
    const req = inFlight(oauth(twin, '/oauth2/v2.0/devicecode', codeForm()));
    await until(holding.id, 'holding');
    expect((await api(twin, 'DELETE', `/_twin/holds/${holding.id}`)).json).toMatchObject({ state: 'cancelled', outcome: 'proceed' });
    expect((await req.result).status).toBe(200);
    expect(holdEntries(holding.id).map((e) => e.event)).toEqual(['hold.caught', 'hold.cancelled']);
    // Finished holds cannot be released or cancelled again.
    expect((await api(twin, 'DELETE', `/_twin/holds/${holding.id}`)).status).toBe(409);
    expect((await api(twin, 'POST', `/_twin/holds/${holding.id}/release`, {})).status).toBe(409);
  });

  it('proceed leaves the fault plan in force; a released fault answers instead of the plan, which stays untouched', async () => {
    try {
      twin.faults.add({ target: 'devicecode', action: { kind: 'http', status: 502 } });
      const first = await arm({ target: 'device-code' });
      const a = inFlight(oauth(twin, '/oauth2/v2.0/devicecode', codeForm()));
      await until(first.id, 'holding');
      await api(twin, 'POST', `/_twin/holds/${first.id}/release`, { outcome: { kind: 'http', status: 503 } });
      expect((await a.result).status).toBe(503);
      expect(twin.faults.list()).toHaveLength(1);

      const second = await arm({ target: 'device-code' });
      const b = inFlight(oauth(twin, '/oauth2/v2.0/devicecode', codeForm()));
      await until(second.id, 'holding');
      await api(twin, 'POST', `/_twin/holds/${second.id}/release`, { outcome: 'proceed' });
      expect((await b.result).status).toBe(502);
      expect(twin.faults.list()).toHaveLength(0);
    } finally {
      twin.faults.clear();
    }
  });

  it('hold entries are in /_twin/journal (kind=hold) with their fields', async () => {
    const hold = await arm({ target: 'device-code', timeoutMs: 50 });
    await oauth(twin, '/oauth2/v2.0/devicecode', codeForm());
    const r = await api(twin, 'GET', '/_twin/journal?kind=hold');
    expect(r.status).toBe(200);
    const mine = r.json.entries.filter((e: any) => e.hold === hold.id);
    expect(mine).toEqual([
      expect.objectContaining({ kind: 'hold', event: 'hold.caught', target: 'device-code', client: '127.0.0.1', clientId: twin.clientId }),
      expect.objectContaining({ kind: 'hold', event: 'hold.timed-out', answer: 'proceed', heldMs: expect.any(Number) }),
    ]);
    expect(r.json.entries.every((e: any) => e.kind === 'hold')).toBe(true);
  });

  it('a client that gives up while held ends the hold as abandoned (HTTP and SMTP), with a journal entry', async () => {
    const http = await arm({ target: 'device-code' });
    const abort = new AbortController();
    const req = request(`${twin.authority}/oauth2/v2.0/devicecode`, {
      method: 'POST',
      dispatcher: twin.agent,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(codeForm()).toString(),
      signal: abort.signal,
    });
    req.catch(() => {});
    await until(http.id, 'holding');
    abort.abort();
    expect(await until(http.id, 'abandoned')).toMatchObject({ outcome: 'proceed' });
    expect(holdEntries(http.id).map((e) => e.event)).toEqual(['hold.caught', 'hold.abandoned']);

    const smtp = await arm({ target: 'smtp-connect' });
    const socket = net.connect(twin.smtp.port, twin.smtp.host);
    socket.on('error', () => {});
    await until(smtp.id, 'holding');
    socket.destroy();
    await until(smtp.id, 'abandoned');
    expect(holdEntries(smtp.id).map((e) => e.event)).toEqual(['hold.caught', 'hold.abandoned']);
  });

  it('GET with until waits for the catch and for the end (long poll), or answers the state after waitMs', async () => {
    const hold = await arm({ target: 'device-code' });
    expect((await api(twin, 'GET', `/_twin/holds/${hold.id}?until=holding&waitMs=0`)).json.state).toBe('armed');
    expect((await api(twin, 'GET', `/_twin/holds/${hold.id}?until=holding&waitMs=50`)).json.state).toBe('armed');
    const caught = inFlight(api(twin, 'GET', `/_twin/holds/${hold.id}?until=holding&waitMs=20000`));
    const ended = inFlight(api(twin, 'GET', `/_twin/holds/${hold.id}?until=finished&waitMs=20000`));
    const req = inFlight(oauth(twin, '/oauth2/v2.0/devicecode', codeForm()));
    expect((await caught.result).json.state).toBe('holding');
    expect(ended.settled).toBe(false);
    await api(twin, 'POST', `/_twin/holds/${hold.id}/release`, {});
    expect((await ended.result).json).toMatchObject({ state: 'released', outcome: 'proceed' });
    expect((await req.result).status).toBe(200);
    // until=holding on a hold that already ended answers at once.
    expect((await api(twin, 'GET', `/_twin/holds/${hold.id}?until=holding&waitMs=60000`)).json.state).toBe('released');
    for (const q of ['until=armed', 'until=holding&waitMs=-1', 'until=holding&waitMs=60001', 'wait=1']) {
      const r = await api(twin, 'GET', `/_twin/holds/${hold.id}?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
  });

  it('holds appear in the OpenAPI document', async () => {
    const doc = (await api(twin, 'GET', '/_twin/openapi.json')).json;
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/_twin/holds', '/_twin/holds/{id}', '/_twin/holds/{id}/release']));
    expect(doc.paths['/_twin/holds'].post.requestBody.content['application/json'].schema.properties.target.enum).toEqual([
      'device-code',
      'token',
      'smtp-connect',
      'smtp-auth',
      'smtp-data',
    ]);
  });
});

describe('bad input to /_twin/holds', () => {
  const badBodies: [string, unknown][] = [
    ['no target', {}],
    ['unknown target', { target: 'smtp-mail' }],
    ['grantType on a device-code hold', { target: 'device-code', grantType: 'refresh_token' }],
    ['unknown grant type', { target: 'token', grantType: 'password' }],
    ['timeout 0', { target: 'token', timeoutMs: 0 }],
    ['timeout over 10 min', { target: 'token', timeoutMs: 600_001 }],
    ['fractional timeout', { target: 'token', timeoutMs: 1.5 }],
    ['unknown field', { target: 'token', count: 2 }],
    ['unknown match field', { target: 'token', match: { mailbox: 'a@b' } }],
    ['upn on an HTTP target', { target: 'token', match: { upn: 'scanner@contoso.com' } }],
    ['upn before AUTH', { target: 'smtp-connect', match: { upn: 'scanner@contoso.com' } }],
    ['clientId on an SMTP target', { target: 'smtp-auth', match: { clientId: 'x' } }],
    ['SMTP reply on an HTTP target', { target: 'token', onTimeout: { kind: 'reply', reply: '535 5.7.3 x' } }],
    ['HTTP error on an SMTP target', { target: 'smtp-data', onTimeout: { kind: 'error', error: 'invalid_grant' } }],
    ['incomplete action', { target: 'token', onTimeout: { kind: 'http' } }],
    ['unknown outcome word', { target: 'token', onTimeout: 'abort' }],
    ['not an object', ['token']],
  ];
  it.each(badBodies)('%s: 400 problem document, nothing armed', async (_name, body) => {
    const before = (await api(twin, 'GET', '/_twin/holds')).json;
    const r = await api(twin, 'POST', '/_twin/holds', body);
    expect(r.status).toBe(400);
    expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(r.json).toMatchObject({ type: 'about:blank', status: 400, title: expect.any(String), detail: expect.any(String) });
    expect((await api(twin, 'GET', '/_twin/holds')).json).toEqual(before);
  });

  it('release: 404 for an unknown hold, 400 for a malformed id, 409 before the catch, 400 for a wrong outcome (still holding)', async () => {
    expect((await api(twin, 'POST', '/_twin/holds/6f1c2a3b-0000-4000-8000-000000000000/release', {})).status).toBe(404);
    const bad = await api(twin, 'POST', '/_twin/holds/not-a-uuid/release', {});
    expect(bad.status).toBe(400);
    expect(bad.headers['content-type']).toMatch(/^application\/problem\+json/);

    const hold = await arm({ target: 'device-code' });
    const early = await api(twin, 'POST', `/_twin/holds/${hold.id}/release`, {});
    expect(early.status).toBe(409);
    expect(early.json.detail).toMatch(/armed/);

    const req = inFlight(oauth(twin, '/oauth2/v2.0/devicecode', codeForm()));
    await until(hold.id, 'holding');
    for (const body of [{ outcome: { kind: 'reply', reply: '421 4.3.2 bye' } }, { outcome: { kind: 'error' } }, { outcome: 'abort' }, { outcome: 'proceed', x: 1 }]) {
      const r = await api(twin, 'POST', `/_twin/holds/${hold.id}/release`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    expect((await api(twin, 'GET', `/_twin/holds/${hold.id}`)).json.state).toBe('holding');
    expect(req.settled).toBe(false);
    // No body at all means proceed.
    expect((await api(twin, 'POST', `/_twin/holds/${hold.id}/release`)).status).toBe(200);
    expect((await req.result).status).toBe(200);
  });
});
