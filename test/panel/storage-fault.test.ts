/** The panel on a failing disk: a refused change is a 503 with the reason, and the status says what the disk does. */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { buildPanel } from '../../src/panel/index.ts';
import { FaultyDisk } from '../../src/util/faulty-io.ts';
import { DeviceHarness, OAUTH_SETTINGS } from '../support/deviceHarness.ts';
import { FakeSimulator } from './fakeSimulator.ts';
import { ADMIN_PASSWORD, basic, nvramSnapshot } from './support.ts';
import type { FastifyInstance } from 'fastify';

let disk: FaultyDisk;
let sim: FakeSimulator;
let app: FastifyInstance;
beforeEach(async () => {
  disk = new FaultyDisk();
  sim = await FakeSimulator.create(await DeviceHarness.create(undefined, { io: disk.nvramIo(), spoolIo: disk.spoolIo() }));
  app = await buildPanel({ sim, adminPassword: ADMIN_PASSWORD, loginRateLimit: 1000 });
});
afterEach(async () => {
  await app.close();
  await sim.close();
});

const api = (method: 'GET' | 'PUT' | 'POST', url: string, payload?: object) =>
  app.inject({ method, url, headers: { authorization: basic() }, ...(payload ? { payload } : {}) });

it('a full disk: 503 with the reason, nothing changed, the status shows the fault until the disk has room', async () => {
  await sim.harness.signIn();
  disk.inject({ kind: 'write', at: 1, errno: 'ENOSPC', persistent: true });
  const before = nvramSnapshot(sim);
  const mail = await api('POST', '/api/mail/test', { to: 'admin@contoso.com' });
  expect(mail.statusCode).toBe(503);
  expect(mail.json().error).toMatch(/storage-full/);
  const settings = await api('PUT', '/api/settings/smtp', { ...OAUTH_SETTINGS, smtpPort: 25 });
  expect(settings.statusCode).toBe(503);
  expect(nvramSnapshot(sim)).toBe(before);
  const status = (await api('GET', '/api/status')).json();
  expect(status.storageFault).toMatchObject({ reason: 'storage-full', code: 'ENOSPC' });
  expect(typeof status.storageFault.since).toBe('string');
  disk.clear();
  await sim.harness.advance(2 * 60_000);
  expect((await api('GET', '/api/status')).json().storageFault).toBeNull();
  expect((await api('POST', '/api/mail/test', { to: 'admin@contoso.com' })).statusCode).toBe(202);
});
