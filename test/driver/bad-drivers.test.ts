/**
 * Drivers that misbehave end the run with a message naming the call, within the call's timeout: one that hangs, one
 * that dies mid-run, one that answers garbage or an unknown state, one of another version. Each is a tiny
 * node:http server in this process, closed after the test (nothing left behind).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connectDriver, DriverError } from '../../src/driver/client.ts';

const HELLO = { protocol: 'mfp-driver', version: 1, name: 'test', capabilities: { clock: false, nvram: false, power: false, events: false } };
const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function fakeDriver(answer: (path: string, res: http.ServerResponse) => void): Promise<string> {
  const s = http.createServer((req, res) => answer(new URL(req.url!, 'http://x').pathname, res));
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}
const json = (res: http.ServerResponse, body: unknown) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

describe('a misbehaving driver', () => {
  it('that hangs: the call times out and the message names it', async () => {
    const url = await fakeDriver((p, res) => (p.endsWith('/hello') ? json(res, HELLO) : undefined /* never answers */));
    const d = await connectDriver({ url, timeoutMs: 2000 });
    const err = await d.status().catch((e) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect(err.kind).toBe('timeout');
    expect(err.message).toMatch(/^driver call status \(GET \/driver\/v1\/status\): no answer within 2000 ms/);
  });

  it('that stalls after the headers: still the timeout', async () => {
    const url = await fakeDriver((p, res) => {
      if (p.endsWith('/hello')) return json(res, HELLO);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"state":'); // and nothing more
    });
    const d = await connectDriver({ url, timeoutMs: 2000 });
    expect((await d.jobs().catch((e) => e)).kind).toBe('timeout');
  });

  it('that dies: unreachable, naming the call and the address', async () => {
    const url = await fakeDriver((p, res) => json(res, HELLO));
    const d = await connectDriver({ url, timeoutMs: 2000 });
    const s = servers.pop()!;
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
    const err = await d.send({ type: 'RETRY' }).catch((e) => e);
    expect(err.kind).toBe('unreachable');
    expect(err.message).toMatch(/driver call operator .*cannot reach the driver at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  });

  it('that answers garbage, or a state outside the eleven: malformed, with the field', async () => {
    const url = await fakeDriver((p, res) => {
      if (p.endsWith('/hello')) return json(res, HELLO);
      if (p.endsWith('/jobs')) {
        res.writeHead(200);
        return res.end('<html>oops</html>');
      }
      json(res, { state: 'printing', since: 0, account: null, userCode: null, verificationUri: null, expiresAt: null, tokenExpiresAt: null, lastError: null, jobId: null, retryAt: null });
    });
    const d = await connectDriver({ url, timeoutMs: 2000 });
    const garbage = await d.jobs().catch((e) => e);
    expect(garbage.kind).toBe('malformed');
    expect(garbage.message).toMatch(/driver call jobs .*answer is not JSON \(HTTP 200: "<html>oops<\/html>"\)/);
    const state = await d.status().catch((e) => e);
    expect(state.kind).toBe('malformed');
    expect(state.message).toMatch(/driver call status .*does not match the protocol: state: /);
  });

  it('of another version: refused at hello, before anything else is called', async () => {
    const calls: string[] = [];
    const url = await fakeDriver((p, res) => {
      calls.push(p);
      json(res, { protocol: 'mfp-driver', version: 2, printer: 'new shape' });
    });
    const err = await connectDriver({ url, timeoutMs: 2000 }).catch((e) => e);
    expect(err.kind).toBe('version');
    expect(err.message).toMatch(/driver call hello .*driver speaks mfp-driver version 2; this harness speaks mfp-driver version 1/);
    expect(calls).toEqual(['/driver/v1/hello']);
  });

  it('asked for a capability it did not declare: refused locally, naming it', async () => {
    const url = await fakeDriver((p, res) => json(res, HELLO));
    const d = await connectDriver({ url, timeoutMs: 2000 });
    const err = await d.powerCycle(0).catch((e) => e);
    expect(err.kind).toBe('capability');
    expect(err.message).toMatch(/driver call powerCycle .*does not declare the power capability/);
  });
});
