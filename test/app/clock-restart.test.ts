/**
 * `mfp-sim start --clock virtual`, SIGKILLed and started again on the same state directory: the twin's clock (the
 * printer's clock in twin mode) resumes no earlier than it was before the kill, as a battery-backed clock would; a
 * sign-in made before the kill still refreshes after it, and once the twin revokes it, the next refresh ends in
 * reauthRequired.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, truncate } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';

interface Running {
  child: ChildProcess;
  entraUrl: string;
  panelUrl: string;
  caPath: string;
  banner: string;
}

const ADMIN_PASSWORD = 'Clock-Test-Pass-1';

/** `entraPort`: the twin's address is Microsoft's, which a printer's restart does not change (MSAL's cache is keyed by it). */
function start(state: string, entraPort = 0): Promise<Running> {
  const child = spawn('node', ['bin/mfp-sim.mjs', 'start', '--state-dir', state, '--port', '0', '--entra-port', String(entraPort), '--smtp-port', '0', '--clock', 'virtual'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, MFP_ADMIN_PASSWORD: ADMIN_PASSWORD },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no banner: ${out}`)), 60_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const api = out.match(/control API (https:\/\/\S+)\/_twin/);
      const ca = out.match(/CA (\S+)\s+control API/);
      const panel = out.match(/Web Image Monitor: +(http:\/\/\S+)/);
      if (api && ca && panel && out.includes('Log:')) {
        clearTimeout(timer);
        resolve({ child, entraUrl: api[1]!, panelUrl: panel[1]!, caPath: ca[1]!, banner: out });
      }
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
}

/** One call to the twin's control API (/_twin…), over its own CA. */
async function twinCall(r: Running, method: 'GET' | 'POST', route: string, body?: unknown): Promise<{ status: number; body: any }> {
  const dispatcher = new Agent({ connect: { ca: await readFile(r.caPath) } });
  try {
    const res = await request(`${r.entraUrl}/_twin${route}`, {
      method, dispatcher, ...(body ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: text ? JSON.parse(text) : null };
  } finally {
    await dispatcher.close();
  }
}

/** One call to the panel's JSON API as the administrator (Basic auth). */
async function panelCall(r: Running, method: 'GET' | 'POST' | 'PUT', route: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await request(`${r.panelUrl}${route}`, {
    method,
    headers: {
      authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : null };
}

interface Status { state: string; userCode: string | null; tokenExpiresAt: string | null; lastError: { reason: string; code: string | null } | null }

/** Polls /api/status (wall time, bounded) until `done` holds; msal-node's polling and sends run on their own. */
async function statusWhen(r: Running, done: (s: Status) => boolean, what: string): Promise<Status> {
  let last: Status | undefined;
  for (let i = 0; i < 600; i++) {
    last = (await panelCall(r, 'GET', '/api/status')).body as Status;
    if (done(last)) return last;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`never ${what}: ${JSON.stringify(last)}`);
}

async function twinClock(r: Running, method: 'GET' | 'POST' = 'GET', body?: unknown): Promise<number> {
  const dispatcher = new Agent({ connect: { ca: await readFile(r.caPath) } });
  try {
    const res = await request(`${r.entraUrl}/_twin/clock${method === 'POST' ? '/advance' : ''}`, {
      method, dispatcher, ...(body ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    });
    expect(res.statusCode).toBe(200);
    return ((await res.body.json()) as { now: number }).now;
  } finally {
    await dispatcher.close();
  }
}

/** A port the system just handed out for port 0, free again: for a twin that must come back on the same address. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves once nothing accepts connections on the port (a killed group's sockets can outlive the exit). */
async function portClosed(url: string): Promise<void> {
  const { hostname, port } = new URL(url);
  for (let i = 0; i < 200; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const s = connect({ host: hostname, port: Number(port) }, () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (!open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} still open`);
}

let dir: string | undefined;
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.pid) try { process.kill(-c.pid, 'SIGKILL'); } catch { /* gone */ }
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('virtual clock across a SIGKILL', () => {
  it('resumes no earlier than before the kill', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mfp-clock-'));
    const state = path.join(dir, 'var');
    const first = await start(state);
    children.push(first.child);
    const origin = await twinClock(first);
    const before = await twinClock(first, 'POST', { ms: 3 * 24 * 3600_000 + 1234 });
    expect(before).toBe(origin + 3 * 24 * 3600_000 + 1234);

    const exited = new Promise((r) => first.child.once('exit', r));
    process.kill(-first.child.pid!, 'SIGKILL');
    await exited;
    await portClosed(first.entraUrl);

    const second = await start(state);
    children.push(second.child);
    const after = await twinClock(second);
    expect(after).toBeGreaterThanOrEqual(before);
    expect(after - before).toBeLessThanOrEqual(60_000);
  }, 180_000); // two process starts (each bounded at 60 s by start()): room on a loaded machine

  it('a sign-in from before the kill refreshes after it; revoked by the twin, the next refresh is reauthRequired', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mfp-revoke-'));
    const state = path.join(dir, 'var');
    const upn = 'scanner@contoso.com';
    const entraPort = await freePort();
    const first = await start(state, entraPort);
    children.push(first.child);
    const settings = { smtpServerName: 'smtp.office365.com', smtpPort: 587, useSecureConnection: true, authMethod: 'oauth2ExchangeOnline', authEmailAddress: upn, authUsername: upn };
    expect((await panelCall(first, 'PUT', '/api/settings/smtp', settings)).status).toBe(200);
    expect((await panelCall(first, 'POST', '/api/oauth/start')).status).toBe(200);
    const pending = await statusWhen(first, (s) => s.state === 'codePending', 'codePending');
    expect((await twinCall(first, 'POST', `/device-codes/${pending.userCode}/approve`, { upn })).status).toBe(200);
    const signedIn = await statusWhen(first, (s) => s.state === 'authorized', 'authorized');
    const killedAt = await twinClock(first);

    const exited = new Promise((r) => first.child.once('exit', r));
    process.kill(-first.child.pid!, 'SIGKILL');
    await exited;
    await Promise.all([portClosed(first.entraUrl), portClosed(first.panelUrl)]);

    const second = await start(state, entraPort);
    children.push(second.child);
    // The clock resumed: the access token is as valid as it was, not more, not less.
    const booted = await statusWhen(second, () => true, 'answered');
    expect(booted).toMatchObject({ state: 'authorized', tokenExpiresAt: signedIn.tokenExpiresAt });
    expect(await twinClock(second)).toBeGreaterThanOrEqual(killedAt);

    // Past the access token's expiry: the next send refreshes with the refresh token from before the kill, and it
    // works (the twin remembers the sign-ins it issued, as Entra does when a printer loses power).
    const pastExpiry = async (s: Status) => twinClock(second, 'POST', { ms: Date.parse(s.tokenExpiresAt!) - (await twinClock(second)) + 60_000 });
    await pastExpiry(booted);
    await statusWhen(second, (s) => s.state === 'tokenExpired', 'tokenExpired');
    expect((await panelCall(second, 'POST', '/api/mail/test', { to: 'admin@contoso.com' })).status).toBe(202);
    const refreshed = await statusWhen(second, (s) => s.state === 'authorized', 'authorized again');
    expect(Date.parse(refreshed.tokenExpiresAt!)).toBeGreaterThan(Date.parse(booted.tokenExpiresAt!));

    // The twin revokes the user's sign-in sessions; past the new token's expiry, the next refresh is refused for that
    // reason (50173), and the device asks for a new sign-in.
    expect((await twinCall(second, 'POST', `/users/${upn}/revoke`)).status).toBe(204);
    await pastExpiry(refreshed);
    await statusWhen(second, (s) => s.state === 'tokenExpired', 'tokenExpired after the revocation');
    expect((await panelCall(second, 'POST', '/api/mail/test', { to: 'admin@contoso.com' })).status).toBe(202);
    const revoked = await statusWhen(second, (s) => s.state === 'reauthRequired', 'reauthRequired');
    expect(revoked.lastError).toMatchObject({ code: 'AADSTS50173' });
    const jobs = (await panelCall(second, 'GET', '/api/jobs')).body as { status: string }[];
    expect(jobs.map((j) => j.status).sort()).toEqual(['held', 'sent']);
  }, 240_000);

  it('a start whose NVRAM image was lost (truncated to 0, key still there) warns in the banner and the process log', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mfp-lost-'));
    const state = path.join(dir, 'var');
    const first = await start(state);
    children.push(first.child);
    expect(first.banner).not.toContain('WARNING');
    const exited = new Promise((r) => first.child.once('exit', r));
    process.kill(-first.child.pid!, 'SIGKILL');
    await exited;
    await portClosed(first.entraUrl);

    await truncate(path.join(state, 'nvram.json'), 0);
    const second = await start(state);
    children.push(second.child);
    expect(second.banner).toMatch(/WARNING \(NVRAM\): +image-lost: NVRAM image blank \(0 bytes\) although the device key already existed/);
    // The log is written asynchronously: read it until the line is there (bounded).
    let warning: { level: number; msg: string; finding?: string } | undefined;
    for (let i = 0; i < 100 && !warning; i++) {
      const log = await readFile(path.join(state, 'mfp-sim.log'), 'utf8');
      warning = log.split('\n').filter(Boolean).map((l) => JSON.parse(l) as NonNullable<typeof warning>).find((l) => l.finding === 'image-lost');
      if (!warning) await new Promise((r) => setTimeout(r, 50));
    }
    expect(warning).toMatchObject({ level: 40, msg: expect.stringMatching(/^NVRAM at boot: NVRAM image blank/) });
  }, 180_000);
});
