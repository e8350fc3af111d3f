/**
 * `mfp-sim start --clock virtual`, SIGKILLed and started again on the same state directory: the twin's clock (the
 * printer's clock in twin mode) resumes no earlier than it was before the kill, as a battery-backed clock would.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, truncate } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';

interface Running {
  child: ChildProcess;
  entraUrl: string;
  caPath: string;
  banner: string;
}

function start(state: string): Promise<Running> {
  const child = spawn('node', ['bin/mfp-sim.mjs', 'start', '--state-dir', state, '--port', '0', '--entra-port', '0', '--smtp-port', '0', '--clock', 'virtual'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, MFP_ADMIN_PASSWORD: 'Clock-Test-Pass-1' },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no banner: ${out}`)), 60_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const api = out.match(/control API (https:\/\/\S+)\/_twin/);
      const ca = out.match(/CA (\S+)\s+control API/);
      if (api && ca && out.includes('Log:')) {
        clearTimeout(timer);
        resolve({ child, entraUrl: api[1]!, caPath: ca[1]!, banner: out });
      }
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
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
