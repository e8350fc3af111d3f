/**
 * The trust store on the panel (Certificates page) and the API (/api/settings/certificates), over a real simulator:
 * list, import (refusals change nothing), delete; and the TLS failure a dead RTC battery causes, shown with its advice
 * on the status page and healed by setting the date through the API.
 */
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { jobOf, signIn, submitScan } from '../e2e/support.ts';
import { basic, login, realPanelPerTest } from './support.ts';

const { setup } = realPanelPerTest();
const call = (a: FastifyInstance, method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: object) =>
  a.inject({ method, url, headers: { authorization: basic() }, ...(payload ? { payload } : {}) });

describe('certificates API', () => {
  it('lists the factory root, refuses bad PEM with its reason changing nothing, deletes and imports', async () => {
    const { sim, app } = await setup();
    const listed = (await call(app, 'GET', '/api/settings/certificates')).json();
    expect(listed.certificates).toHaveLength(1);
    const root = listed.certificates[0];
    expect(root).toMatchObject({ subject: 'mfp-oauth-sim twin CA', origin: 'factory', selfSigned: true, validFrom: '2025-01-01T00:00:00.000Z' });
    expect(root.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);

    const before = JSON.stringify(sim.device.nvram.data);
    const server = await readFile(`${sim.dir}/cloud/server.pem`, 'utf8');
    const notCa = await call(app, 'POST', '/api/settings/certificates', { pem: server });
    expect(notCa.statusCode).toBe(400);
    expect(notCa.json()).toMatchObject({ reason: 'not-a-ca', error: expect.stringMatching(/not a CA certificate/) });
    const garbage = await call(app, 'POST', '/api/settings/certificates', { pem: '-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----' });
    expect(garbage.json()).toMatchObject({ reason: 'malformed' });
    expect((await call(app, 'POST', '/api/settings/certificates', { pem: 42 })).statusCode).toBe(400);
    expect((await call(app, 'POST', '/api/settings/certificates', { pem: sim.twin!.caPem })).json()).toMatchObject({ reason: 'duplicate' });
    expect((await call(app, 'DELETE', '/api/settings/certificates/AA:BB')).statusCode).toBe(404);
    expect(JSON.stringify(sim.device.nvram.data)).toBe(before);

    const deleted = await call(app, 'DELETE', `/api/settings/certificates/${encodeURIComponent(root.fingerprint)}`);
    expect(deleted.json()).toEqual({ certificates: [] });
    const imported = await call(app, 'POST', '/api/settings/certificates', { pem: sim.twin!.caPem });
    expect(imported.statusCode).toBe(201);
    expect(imported.json()).toMatchObject({ fingerprint: root.fingerprint, origin: 'imported' });
    // The NVRAM budget counts the store: its section is on the NVRAM page's list.
    const nvram = (await call(app, 'GET', '/api/nvram')).json();
    expect(JSON.stringify(nvram)).toContain('trust');
  });

  it('is in the OpenAPI document', async () => {
    const { app } = await setup();
    const doc = (await call(app, 'GET', '/docs/json')).json();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/settings/certificates', '/api/settings/certificates/{fingerprint}']));
    expect(doc.paths['/api/settings/certificates'].post.requestBody.content['application/json'].schema.properties).toHaveProperty('pem');
    expect(JSON.stringify(doc.components.schemas)).toContain('SHA-256 fingerprint');
  });
});

describe('Certificates page and the TLS advice', () => {
  it('a dead battery shows cert-not-yet-valid with "Check Date/Time or enable NTP"; setting the date via the API sends the job', async () => {
    const { sim, app } = await setup();
    await signIn(sim);
    sim.deviceClock.rtc.setBattery(false);
    await sim.deviceClock.idle();
    await sim.powerCycle(60_000);
    const job = await submitScan(sim);
    await sim.device.idle();
    const status = (await call(app, 'GET', '/api/status')).json();
    expect(status).toMatchObject({ state: 'sendFailure', lastError: { reason: 'cert-not-yet-valid' }, advice: 'Check Date/Time or enable NTP' });
    const { cookie } = await login(app);
    const page = await app.inject({ method: 'GET', url: '/status', headers: { cookie } });
    expect(page.body).toContain('cert-not-yet-valid');
    expect(page.body).toContain('Check Date/Time or enable NTP');

    const set = await call(app, 'PUT', '/api/settings/clock', { dateTime: new Date(sim.clock.now()).toISOString() });
    expect(set.statusCode).toBe(200);
    await sim.device.idle();
    expect(jobOf(sim, job.id).status).toBe('sent');
  });

  it('the page lists, refuses a non-CA PEM with its reason, deletes and imports (CSRF forms)', async () => {
    const { sim, app } = await setup();
    const { cookie, csrf } = await login(app);
    const page = await app.inject({ method: 'GET', url: '/settings/certificates', headers: { cookie } });
    expect(page.statusCode).toBe(200);
    const [root] = sim.trustStore.list();
    expect(page.body).toContain(root!.fingerprint);
    expect(page.body).toContain('mfp-oauth-sim twin CA');

    const server = await readFile(`${sim.dir}/cloud/server.pem`, 'utf8');
    const refused = await app.inject({ method: 'POST', url: '/settings/certificates', headers: { cookie }, payload: { _csrf: csrf, pem: server } });
    expect(refused.statusCode).toBe(400);
    expect(refused.body).toContain('is not a CA certificate');
    expect(sim.trustStore.list()).toHaveLength(1);

    const noCsrf = await app.inject({ method: 'POST', url: '/settings/certificates/delete', headers: { cookie }, payload: { fingerprint: root!.fingerprint } });
    expect(noCsrf.statusCode).toBe(403);
    const del = await app.inject({ method: 'POST', url: '/settings/certificates/delete', headers: { cookie }, payload: { _csrf: csrf, fingerprint: root!.fingerprint } });
    expect(del.statusCode).toBe(302);
    expect(sim.trustStore.list()).toHaveLength(0);
    const imp = await app.inject({ method: 'POST', url: '/settings/certificates', headers: { cookie }, payload: { _csrf: csrf, pem: sim.twin!.caPem } });
    expect(imp.statusCode).toBe(302);
    expect(sim.trustStore.list().map((c) => c.origin)).toEqual(['imported']);
  });
});
