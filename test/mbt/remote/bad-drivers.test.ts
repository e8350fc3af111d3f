/**
 * `mfp-sim mbt --driver` (a child process, as CI runs it) against drivers that hang, die, answer garbage or speak
 * another version: the run fails (exit 1) with a message naming the driver call, and the process ends by itself —
 * nothing is left behind (the twin is this test's own, closed after).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTwin, type Twin } from '../../../src/cloud/twin.ts';
import { VirtualClock } from '../../../src/time/clock.ts';

const HELLO = { protocol: 'mfp-driver', version: 1, name: 'bad', capabilities: { clock: false, nvram: false, power: false, events: false } };
let twin: Twin;
let dir: string;
const servers: http.Server[] = [];
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mfp-bad-drivers-'));
  twin = await startTwin({ stateDir: dir, clock: new VirtualClock(), seed: 7 });
}, 60_000);
afterAll(async () => {
  await twin?.close();
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function fakeDriver(answer: (p: string, res: http.ServerResponse, req: http.IncomingMessage) => void): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer((req, res) => answer(new URL(req.url!, 'http://x').pathname, res, req));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
const json = (res: http.ServerResponse, body: unknown) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

/** Runs `mfp-sim mbt` and waits for it to exit on its own. */
function mbt(driverUrl: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/mfp-sim.mjs', 'mbt', '--driver', driverUrl, '--twin', twin.entraUrl, '--twin-ca', twin.caPath, '--step-timeout', '1500', '--failures-dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('mfp-sim mbt against a misbehaving driver', () => {
  it('that hangs: exit 1, the call named, within the step timeout', async () => {
    const { url } = await fakeDriver((p, res) => (p.endsWith('/hello') ? json(res, HELLO) : undefined));
    const r = await mbt(url);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/driver call (operator|status) \((POST|GET) \/driver\/v1\/(operator|status)\): no answer within 1500 ms/);
  }, 60_000);

  it('that dies after hello: exit 1, the call named', async () => {
    const d = await fakeDriver((p, res) => {
      if (p.endsWith('/hello')) {
        json(res, HELLO);
        setImmediate(() => {
          d.server.closeAllConnections();
          d.server.close();
        });
      }
    });
    const r = await mbt(d.url);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/driver call \w+ \([A-Z]+ \/driver\/v1\/[\w/-]+\): cannot reach the driver/);
  }, 60_000);

  it('that answers garbage or an unknown state: exit 1, the call named', async () => {
    const { url } = await fakeDriver((p, res) => {
      if (p.endsWith('/hello')) return json(res, HELLO);
      if (p.endsWith('/operator')) return json(res, { accepted: true, state: 'unconfigured' });
      return json(res, { state: 'warmingUp' });
    });
    const r = await mbt(url);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/driver call status \(GET \/driver\/v1\/status\): answer does not match the protocol/);
  }, 60_000);

  it('that speaks another version: exit 1 before any step, the call named', async () => {
    const { url } = await fakeDriver((p, res) => json(res, { ...HELLO, version: 2 }));
    const r = await mbt(url);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/driver call hello \(GET \/driver\/v1\/hello\): driver speaks mfp-driver version 2; this harness speaks mfp-driver version 1/);
  }, 60_000);
});
