/**
 * Holds with our own printer as the black box: the simulator (device runtime, msal-node, nodemailer) talks to the
 * twin over loopback sockets, and the test arms holds through the twin's control API over HTTPS, as a bench tester
 * would. A hold keeps the device in `requestingCode`, `refreshing` or `sending` until released; the release decides
 * the outcome; an unreleased hold ends by timeout with a journal entry; a consumed hold never catches the next request.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import type { LeafState } from '../../../machines/oauthDevice.ts';
import { MINUTE, SCANNER, SETTINGS, RECIPIENT, jobOf, signIn, startE2E, submitScan, waitForState, type E2ESim } from '../../e2e/support.ts';

let sim: E2ESim | undefined;
let agent: Agent | undefined;
afterEach(async () => {
  // A test that failed mid-hold must not leave the simulator waiting for the hold's timeout.
  sim?.twin?.holds.cancelAll();
  await agent?.close();
  await sim?.close();
  sim = agent = undefined;
});

async function start(): Promise<E2ESim> {
  sim = await startE2E();
  agent = new Agent({ connect: { ca: sim.twin!.caPem } });
  return sim;
}

/** The control API over HTTPS, as a tester outside the process uses it. */
async function control(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await request(`${sim!.twin!.entraUrl}/_twin${path}`, {
    method: method as 'GET',
    dispatcher: agent,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: text ? JSON.parse(text) : undefined };
}

async function arm(spec: Record<string, unknown>): Promise<string> {
  const r = await control('POST', '/holds', spec);
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json.id;
}

/** Waits until the hold has caught a request (the control API's long poll); answers the hold. */
async function caught(id: string): Promise<any> {
  const r = await control('GET', `/holds/${id}?until=holding&waitMs=60000`);
  expect(r.status).toBe(200);
  if (r.json.state === 'armed') throw new Error(`hold ${id} caught nothing; device is ${sim!.device.state()}`);
  return r.json;
}

/** While the hold holds, the device stays where it is: checked across a few control round trips. */
async function staysIn(state: LeafState, id: string): Promise<void> {
  for (let i = 0; i < 5; i++) {
    expect(sim!.device.state()).toBe(state);
    expect((await control('GET', `/holds/${id}`)).json.state).toBe('holding');
  }
}

async function release(id: string, outcome?: unknown): Promise<void> {
  const r = await control('POST', `/holds/${id}/release`, outcome === undefined ? {} : { outcome });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
}

const holdEvents = (id: string) =>
  sim!.twin!.journal
    .list({ kind: 'hold' })
    .filter((e) => e.kind === 'hold' && e.hold === id)
    .map((e) => (e.kind === 'hold' ? e.event : ''));

/** Signed in, then idle past the access token's deadline: the next send refreshes first. */
async function expiredSession(s: E2ESim): Promise<void> {
  await signIn(s);
  await s.advance(91 * MINUTE);
  expect(s.device.state()).toBe('tokenExpired');
}

// Each test boots a whole simulator and signs in over sockets: generous bounds for a loaded machine (not assertions).
describe('a hold keeps our printer in its transient state', { timeout: 120_000 }, () => {
  it('device-code: requestingCode until released; proceed gives the code', async () => {
    const s = await start();
    const id = await arm({ target: 'device-code', match: { clientId: s.twin!.clientId } });
    await s.device.saveSettings(SETTINGS);
    const started = s.device.send({ type: 'START_AUTH' });
    expect((await caught(id)).state).toBe('holding');
    await staysIn('requestingCode', id);
    await release(id);
    await started;
    await waitForState(s, 'codePending');
    expect(s.device.status().userCode).toMatch(/^[A-Z0-9]+$/);
    expect(holdEvents(id)).toEqual(['hold.caught', 'hold.released']);
  });

  it('device-code released with a fault: the fault is the outcome (authFailed, AADSTS700016)', async () => {
    const s = await start();
    const id = await arm({ target: 'device-code' });
    await s.device.saveSettings(SETTINGS);
    const started = s.device.send({ type: 'START_AUTH' });
    await caught(id);
    await staysIn('requestingCode', id);
    await release(id, {
      kind: 'error',
      error: 'unauthorized_client',
      aadsts: 700016,
      description: "Application with identifier was not found in the directory 'contoso'.",
    });
    await started;
    await waitForState(s, 'authFailed');
    const http = s.twin!.journal.list({ kind: 'http' }).filter((e) => e.kind === 'http' && e.path.endsWith('/devicecode'));
    expect(http.at(-1)).toMatchObject({ status: 400, error: 'unauthorized_client', aadsts: 700016 });
  });

  it('token (refresh_token): refreshing until released; proceed lets the job go out', async () => {
    const s = await start();
    await expiredSession(s);
    const id = await arm({ target: 'token', grantType: 'refresh_token', match: { client: '127.0.0.1' } });
    const job = await submitScan(s);
    expect((await caught(id)).caught).toMatchObject({ grantType: 'refresh_token', clientId: s.twin!.clientId });
    await staysIn('refreshing', id);
    await release(id, 'proceed');
    await waitForState(s, 'authorized');
    expect(jobOf(s, job.id).status).toBe('sent');
  });

  it('token (refresh_token) released with invalid_grant 50173: reauthRequired, the job held', async () => {
    const s = await start();
    await expiredSession(s);
    const id = await arm({ target: 'token', grantType: 'refresh_token' });
    const job = await submitScan(s);
    await caught(id);
    await staysIn('refreshing', id);
    await release(id, { kind: 'error', error: 'invalid_grant', aadsts: 50173, description: 'The provided grant has expired due to it being revoked.' });
    await waitForState(s, 'reauthRequired');
    expect(jobOf(s, job.id).status).toBe('held');
  });

  it('smtp-auth: sending until released; proceed delivers', async () => {
    const s = await start();
    await signIn(s);
    const id = await arm({ target: 'smtp-auth', match: { upn: SCANNER } });
    const job = await submitScan(s);
    expect((await caught(id)).caught).toMatchObject({ upn: SCANNER, session: expect.any(String) });
    await staysIn('sending', id);
    await release(id);
    await waitForState(s, 'authorized');
    expect(jobOf(s, job.id).status).toBe('sent');
    expect(s.twin!.control.messages(RECIPIENT)).toHaveLength(1);
  });

  it('smtp-auth released with 5.7.139: the permanent failure is the outcome', async () => {
    const s = await start();
    await signIn(s);
    const id = await arm({ target: 'smtp-auth' });
    await submitScan(s);
    await caught(id);
    await staysIn('sending', id);
    await release(id, { kind: 'reply', reply: '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.' });
    await waitForState(s, 'sendFailure');
    expect(s.device.status()).toMatchObject({ retryAt: null, lastError: { code: { kind: 'smtp', value: '5.7.139' } } });
  });

  it('smtp-data: sending until released (after the message, before its reply); 554 5.2.2 is the outcome', async () => {
    const s = await start();
    await signIn(s);
    const id = await arm({ target: 'smtp-data', match: { upn: SCANNER } });
    await submitScan(s);
    await caught(id);
    await staysIn('sending', id);
    await release(id, { kind: 'reply', reply: '554 5.2.2 mailbox full; STOREDRV.Submission.Exception:QuotaExceededException' });
    await waitForState(s, 'sendFailure');
    expect(s.device.status().lastError).toMatchObject({ code: { kind: 'smtp', value: '5.2.2' } });
    expect(s.twin!.control.messages(RECIPIENT)).toHaveLength(0);
  });

  it('smtp-connect: sending with no greeting until released; a drop is a transient network failure', async () => {
    const s = await start();
    await signIn(s);
    const id = await arm({ target: 'smtp-connect' });
    await submitScan(s);
    expect((await caught(id)).caught).toMatchObject({ client: '127.0.0.1', session: expect.any(String) });
    await staysIn('sending', id);
    await release(id, { kind: 'drop' });
    await waitForState(s, 'sendFailure');
    expect(s.device.status()).toMatchObject({ lastError: { reason: 'network' }, retryAt: expect.any(Number) });
  });

  it('an unreleased hold ends by timeout with a journal entry, and the device finishes', async () => {
    const s = await start();
    await signIn(s);
    const id = await arm({ target: 'smtp-auth', timeoutMs: 300 });
    const job = await submitScan(s);
    await caught(id);
    await waitForState(s, 'authorized');
    expect(jobOf(s, job.id).status).toBe('sent');
    expect((await control('GET', `/holds/${id}`)).json).toMatchObject({ state: 'timed-out', outcome: 'proceed' });
    expect(holdEvents(id)).toEqual(['hold.caught', 'hold.timed-out']);
    const timedOut = s.twin!.journal.list({ kind: 'hold' }).find((e) => e.kind === 'hold' && e.event === 'hold.timed-out');
    expect(timedOut).toMatchObject({ target: 'smtp-auth', upn: SCANNER, answer: 'proceed' });
  });

  it('a consumed hold never leaks into the next request', async () => {
    const s = await start();
    await signIn(s);
    const id = await arm({ target: 'smtp-auth' });
    await submitScan(s, 'first');
    await caught(id);
    await release(id);
    await waitForState(s, 'authorized');
    // The second job goes straight through: nothing is armed, nothing is caught.
    const second = await submitScan(s, 'second');
    await s.device.idle();
    expect(jobOf(s, second.id).status).toBe('sent');
    expect((await control('GET', '/holds')).json.map((h: any) => h.state)).toEqual(['released']);
    expect(s.twin!.journal.list({ kind: 'hold' }).filter((e) => e.kind === 'hold' && e.event === 'hold.caught')).toHaveLength(1);
    expect(s.twin!.control.messages(RECIPIENT)).toHaveLength(2);
  });

  it('a power cut while a held DATA waits: the job is resent after the reboot, one Message-ID, the hold ends', async () => {
    const s = await start();
    await signIn(s);
    const id = await arm({ target: 'smtp-data' });
    const job = await submitScan(s);
    await caught(id);
    await staysIn('sending', id);
    await s.powerCycle(60_000);
    await waitForState(s, 'authorized');
    expect(jobOf(s, job.id)).toMatchObject({ status: 'sent', attempts: 2 });
    // Whatever the cut did to the held session (closed: abandoned; still open: release it now), the hold ends and
    // never catches the resend.
    const after = (await control('GET', `/holds/${id}`)).json;
    if (after.state === 'holding') await release(id);
    expect(['abandoned', 'holding']).toContain(after.state);
    expect(s.twin!.journal.list({ kind: 'hold' }).filter((e) => e.kind === 'hold' && e.event === 'hold.caught')).toHaveLength(1);
    const copies = s.twin!.control.messages(RECIPIENT);
    expect(new Set(copies.map((m) => m.messageId))).toEqual(new Set([job.messageId]));
  });

  it('a power cut while a held refresh waits: the device closes the connection (abandoned), refreshes again unheld and sends', async () => {
    const s = await start();
    await expiredSession(s);
    const id = await arm({ target: 'token', grantType: 'refresh_token' });
    const job = await submitScan(s);
    await caught(id);
    await staysIn('refreshing', id);
    await s.powerCycle(1_000);
    const after = (await control('GET', `/holds/${id}`)).json;
    if (after.state === 'holding') await release(id);
    await waitForState(s, 'authorized');
    expect(jobOf(s, job.id).status).toBe('sent');
  });
});
