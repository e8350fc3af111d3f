/** `mfp-sim driver check`: every safe call once, capabilities reported, a refusal shown as FAIL. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { checkDriver } from '../../src/driver/cli.ts';
import { localPrinter } from '../../src/sim/printer.ts';
import { startDriverServer, type DriverServer } from '../../src/driver/server.ts';
import { startE2E, type E2ESim } from '../e2e/support.ts';

let sim: E2ESim | undefined;
let server: DriverServer | undefined;
let fake: http.Server | undefined;
afterEach(async () => {
  await server?.close();
  await sim?.close();
  fake?.closeAllConnections();
  await new Promise((r) => (fake ? fake.close(r) : r(null)));
  sim = server = fake = undefined;
});

describe('driver check', () => {
  it('reports every capability of our printer as working', async () => {
    sim = await startE2E();
    server = await startDriverServer({ printer: localPrinter(sim), name: 'ref' });
    const r = await checkDriver(server.url, 5000);
    expect(r.ok).toBe(true);
    expect(r.lines.map((l) => l.call)).toEqual(['hello', 'status', 'jobs', 'idle', 'clock', 'nvram', 'powerCycle', 'events']);
    expect(r.lines.find((l) => l.call === 'status')?.detail).toBe('state unconfigured');
  });

  it('names what a minimal driver lacks and fails on a broken route', async () => {
    fake = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.url!.endsWith('/hello')) return res.end(JSON.stringify({ protocol: 'mfp-driver', version: 1, name: 'min', capabilities: { clock: false, nvram: false, power: false, events: false } }));
      if (req.url!.endsWith('/jobs')) return res.end('[]');
      if (req.url!.endsWith('/idle')) return res.end('{"ok":true}');
      res.end('{"state":"busy"}');
    });
    await new Promise<void>((r) => fake!.listen(0, '127.0.0.1', r));
    const r = await checkDriver(`http://127.0.0.1:${(fake.address() as AddressInfo).port}`, 5000);
    expect(r.ok).toBe(false);
    expect(r.lines.find((l) => l.call === 'status')).toMatchObject({ ok: false, detail: expect.stringMatching(/driver call status .*does not match/) });
    expect(r.lines.filter((l) => /not offered/.test(l.detail)).map((l) => l.call)).toEqual(['clock', 'nvram', 'power', 'events']);
  });
});
