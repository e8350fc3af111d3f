/**
 * Safe exposure: loopback is the default and needs no token; bound beyond loopback (0.0.0.0, reached here at the
 * machine's own non-loopback address) the control API demands the bearer token printed at start, while the OAuth
 * endpoints and the sign-in pages stay open to devices. The Entra origin answers only the Host names it serves.
 */
import { mkdtemp } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTwin, type Twin } from '../../../src/cloud/twin.ts';
import { ControlToken, HostCheck, isLoopbackHost, reachableAddresses } from '../../../src/cloud/exposure.ts';
import { VirtualClock } from '../../../src/time/clock.ts';

/** The machine's first non-loopback IPv4 address (loopback when it has none: the bind is still 0.0.0.0). */
const lanAddress =
  Object.values(networkInterfaces())
    .flat()
    .find((i) => i && !i.internal && i.family === 'IPv4')?.address ?? '127.0.0.1';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** HTTPS to `address:port` with the given Host, trusting only the twin's CA (servername: a name on the certificate). */
function get(twin: Twin, address: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const port = Number(new URL(twin.entraUrl).port);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: address, port, path, method: 'GET', servername: 'login.microsoftonline.com', ca: twin.caPem, headers: { host: `login.microsoftonline.com:${port}`, ...headers } },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

let exposed: Twin;
let loopback: Twin;

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'twin-exposed-'));
  exposed = await startTwin({ stateDir: dir, clock: new VirtualClock(), host: '0.0.0.0', smtpGreetingDelayMs: 0, seed: 1 });
  // The same certificates (copied by state dir reuse): only the bind differs.
  loopback = await startTwin({ stateDir: dir, clock: new VirtualClock(), smtpGreetingDelayMs: 0, seed: 1 });
});
afterAll(async () => {
  await Promise.allSettled([exposed?.close(), loopback?.close()]);
});

describe('default bind', () => {
  it('is loopback, not exposed, and its control API needs no token', async () => {
    expect(loopback.exposed).toBe(false);
    expect(loopback.controlToken).toBeNull();
    expect(new URL(loopback.entraUrl).hostname).toBe('127.0.0.1');
    expect(loopback.smtp.host).toBe('127.0.0.1');
    const res = await get(loopback, '127.0.0.1', '/_twin/clock');
    expect(res.status).toBe(200);
  });
});

describe(`bound to 0.0.0.0, reached at ${lanAddress}`, () => {
  it('is exposed with a generated 256-bit token, and lists where devices reach it', () => {
    expect(exposed.exposed).toBe(true);
    expect(exposed.controlToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(exposed.addresses).toContain(lanAddress === '127.0.0.1' ? '127.0.0.1' : lanAddress);
    expect(exposed.hostsLine).toBe(`${exposed.addresses[0]} login.microsoftonline.com smtp.office365.com`);
    // The twin's own in-process users dial loopback.
    expect(new URL(exposed.entraUrl).hostname).toBe('127.0.0.1');
  });

  it('/_twin without the token answers 401 in RFC 7807 shape with WWW-Authenticate: Bearer', async () => {
    for (const path of ['/_twin/clock', '/_twin/openapi.json', '/_twin/journal', '/_twin/no-such-route', `/_twin/phone/scanner@contoso.com`]) {
      const res = await get(exposed, lanAddress, path);
      expect(res.status, path).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="_twin"');
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(res.body)).toMatchObject({ type: 'about:blank', title: 'Unauthorized', status: 401 });
    }
    // From loopback too: once exposed, the token is the only key (a shared machine is not a trusted peer).
    expect((await get(exposed, '127.0.0.1', '/_twin/clock')).status).toBe(401);
  });

  it('with the token it works; a wrong token, another scheme or a token in the query answers 401 invalid_token', async () => {
    const ok = await get(exposed, lanAddress, '/_twin/clock', { authorization: `Bearer ${exposed.controlToken}` });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toHaveProperty('now');
    expect((await get(exposed, lanAddress, '/_twin/clock', { authorization: `bearer ${exposed.controlToken}` })).status).toBe(200);
    for (const authorization of [`Bearer ${exposed.controlToken}x`, `Bearer ${'A'.repeat(43)}`, `Basic ${exposed.controlToken}`, 'Bearer']) {
      const res = await get(exposed, lanAddress, '/_twin/clock', { authorization });
      expect(res.status, authorization).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="_twin", error="invalid_token"');
    }
    expect((await get(exposed, lanAddress, `/_twin/clock?access_token=${exposed.controlToken}`)).status).toBe(401);
  });

  it("the OpenAPI document declares the bearer scheme when exposed, and none on loopback", async () => {
    const doc = JSON.parse((await get(exposed, lanAddress, '/_twin/openapi.json', { authorization: `Bearer ${exposed.controlToken}` })).body);
    expect(doc.components.securitySchemes.controlToken).toEqual({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ controlToken: [] }]);
    const local = JSON.parse((await get(loopback, '127.0.0.1', '/_twin/openapi.json')).body);
    expect(local.security).toBeUndefined();
  });

  it('the OAuth endpoints and sign-in pages answer devices without any token', async () => {
    const discovery = await get(exposed, lanAddress, `/${exposed.tenantId}/v2.0/.well-known/openid-configuration`);
    expect(discovery.status).toBe(200);
    expect(JSON.parse(discovery.body).issuer).toMatch(/^https:\/\/login\.microsoftonline\.com:\d+\//);
    const page = await get(exposed, lanAddress, '/devicelogin', { accept: 'text/html' });
    expect(page.status).toBe(200);
    expect(page.body).toMatch(/<form/i);
  });

  it('a Host it does not serve gets 421 Misdirected Request; its own address and names are answered', async () => {
    const port = new URL(exposed.entraUrl).port;
    const misdirected = await get(exposed, lanAddress, `/${exposed.tenantId}/v2.0/.well-known/openid-configuration`, { host: `evil.example:${port}` });
    expect(misdirected.status).toBe(421);
    expect(JSON.parse(misdirected.body).error).toBe('invalid_request');
    const control = await get(exposed, lanAddress, '/_twin/clock', { host: 'evil.example', authorization: `Bearer ${exposed.controlToken}` });
    expect(control.status).toBe(421);
    expect(JSON.parse(control.body)).toMatchObject({ title: 'Misdirected Request', status: 421 });
    for (const host of [`${lanAddress}:${port}`, `localhost:${port}`, `[::1]:${port}`, `smtp.office365.com:${port}`, `LOGIN.microsoftonline.com:${port}`]) {
      expect((await get(exposed, lanAddress, `/${exposed.tenantId}/v2.0/.well-known/openid-configuration`, { host })).status, host).toBe(200);
    }
  });
});

describe('the pieces', () => {
  it('ControlToken keeps only a digest and accepts exactly its token', () => {
    const { token, guard } = ControlToken.generate();
    expect(JSON.stringify(guard)).not.toContain(token);
    expect(Object.values(guard).some((v) => String(v).includes(token))).toBe(false);
    expect(guard.accepts(`Bearer ${token}`)).toBe(true);
    expect(guard.accepts(`Bearer ${token.slice(1)}`)).toBe(false);
    expect(guard.accepts(undefined)).toBe(false);
    expect(guard.accepts('')).toBe(false);
    expect(() => ControlToken.of('short')).toThrow(/32 to 512/);
    expect(ControlToken.of('x'.repeat(32)).accepts(`Bearer ${'x'.repeat(32)}`)).toBe(true);
  });

  it('a chosen token is used, a bad one refused before anything listens', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'twin-token-'));
    await expect(startTwin({ stateDir: dir, clock: new VirtualClock(), host: '0.0.0.0', controlToken: 'too short' })).rejects.toThrow(/32 to 512/);
    const chosen = 'bench-token-'.padEnd(40, 'z');
    const t = await startTwin({ stateDir: dir, clock: new VirtualClock(), host: '0.0.0.0', controlToken: chosen, smtpGreetingDelayMs: 0 });
    try {
      expect(t.controlToken).toBe(chosen);
      expect((await get(t, '127.0.0.1', '/_twin/clock', { authorization: `Bearer ${chosen}` })).status).toBe(200);
    } finally {
      await t.close();
    }
  });

  it('loopback, wildcard and reachable addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost']) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '192.0.2.10', 'fd00::2']) expect(isLoopbackHost(h), h).toBe(false);
    const ifs = {
      lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
      eth0: [
        { address: '192.0.2.2', family: 'IPv4', internal: false },
        { address: 'fd00::2', family: 'IPv6', internal: false },
        { address: 'fe80::1', family: 'IPv6', internal: false },
      ],
    } as unknown as ReturnType<typeof networkInterfaces>;
    expect(reachableAddresses('0.0.0.0', ifs)).toEqual(['192.0.2.2']);
    expect(reachableAddresses('::', ifs)).toEqual(['192.0.2.2', 'fd00::2']);
    expect(reachableAddresses('192.0.2.2', ifs)).toEqual(['192.0.2.2']);
    expect(reachableAddresses('0.0.0.0', { lo: ifs.lo })).toEqual(['127.0.0.1']);
  });

  it('HostCheck: names, addresses, ports, IPv6 brackets, one-label wildcards; nothing else', () => {
    const check = new HostCheck(['login.microsoftonline.com', '*.bench.example', '192.0.2.2', 'fd00::2']);
    for (const h of ['login.microsoftonline.com', 'LOGIN.microsoftonline.com.:443', '192.0.2.2:8443', '[fd00::2]:8443', '[fd00:0::2]', 'a.bench.example', 'localhost:1', '127.0.0.1', '[::1]']) {
      expect(check.allows(h), h).toBe(true);
    }
    for (const h of [undefined, '', 'evil.example', 'bench.example', 'a.b.bench.example', 'login.microsoftonline.com.evil.example', '192.0.2.3']) {
      expect(check.allows(h), String(h)).toBe(false);
    }
  });
});
