/**
 * The device's Entra client (src/adapters/msal/networkClient.ts) keeps one connection for the polls of an exchange
 * and lets it go when the exchange ends: a fleet's process holds both ends of every connection its printers keep.
 */
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from 'selfsigned';
import { EntraNetworkClient } from '../../src/adapters/msal/networkClient.ts';
import { DeviceTls, fixedTrust } from '../../src/adapters/tls/deviceTls.ts';

let server: https.Server;
let url: string;
let caPem: string;
const open = new Set<Socket>();
let accepted = 0;

beforeAll(async () => {
  const ca = await generate([{ name: 'commonName', value: 'Test Root' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const leaf = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] },
    ],
  });
  caPem = ca.cert;
  // The twin's Fastify offers a long keep-alive; so does this server: only the client can end the connection early.
  server = https.createServer({ key: leaf.private, cert: leaf.cert, keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ error: 'authorization_pending', error_description: 'AADSTS70016: pending' }));
    });
  });
  server.on('secureConnection', (s: Socket) => {
    accepted++;
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/common/oauth2/v2.0/token`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

const until = async (ok: () => boolean, what: string) => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(ok(), what).toBe(true);
};

describe('EntraNetworkClient connections', () => {
  it('carries the polls of one exchange on one connection and closes it when the exchange ends', async () => {
    const client = new EntraNetworkClient({ tls: new DeviceTls(fixedTrust(caPem)) });
    const before = accepted;
    for (let i = 0; i < 3; i++) {
      const r = await client.sendPostRequestAsync(url, { correlationId: 'c1', body: 'grant_type=device_code' });
      expect(r.status).toBe(200);
    }
    expect(accepted - before).toBe(1);
    expect(open.size).toBe(1);
    client.endExchange('c1');
    await until(() => open.size === 0, 'the connection is closed once the exchange ends');
    // The next exchange opens a new connection.
    await client.sendPostRequestAsync(url, { correlationId: 'c2', body: 'grant_type=refresh_token' });
    expect(accepted - before).toBe(2);
    await client.destroy();
  });
});
