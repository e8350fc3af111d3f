/** The date/time API (/api/settings/clock, /api/device/clock/sync) over a real simulator with the twin's NTP server. */
import { describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { FIRMWARE_EPOCH } from '../../src/device/clockService.ts';
import { basic, login, realPanelPerTest } from './support.ts';

const { setup } = realPanelPerTest();
const call = (a: FastifyInstance, method: 'GET' | 'PUT' | 'POST', url: string, payload?: object) =>
  a.inject({ method, url, headers: { authorization: basic() }, ...(payload ? { payload } : {}) });

describe('clock API', () => {
  it('shows the printer clock, sets the date, the time zone and NTP, and syncs on demand', async () => {
    const { sim, app } = await setup();
    const shown = (await call(app, 'GET', '/api/settings/clock')).json();
    expect(shown).toEqual({ now: new Date(sim.clock.now()).toISOString(), ntpEnabled: false, timeZone: 'UTC', lastSync: null });

    const res = await call(app, 'PUT', '/api/settings/clock', { dateTime: '2025-06-01T12:00:00Z', timeZone: 'Europe/Berlin' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ now: '2025-06-01T12:00:00.000Z', timeZone: 'Europe/Berlin', ntpEnabled: false });
    expect(sim.deviceClock.now()).toBe(Date.parse('2025-06-01T12:00:00Z'));

    const synced = (await call(app, 'POST', '/api/device/clock/sync')).json();
    expect(synced.now).toBe(new Date(sim.clock.now()).toISOString());
    expect(synced.lastSync).toMatchObject({ ok: true, offsetMs: sim.clock.now() - Date.parse('2025-06-01T12:00:00Z') });

    const on = (await call(app, 'PUT', '/api/settings/clock', { ntpEnabled: true })).json();
    expect(on.ntpEnabled).toBe(true);
  });

  it('battery dead, NTP off: the API shows the firmware epoch and setting the date recovers without a restart', async () => {
    const { sim, app } = await setup();
    sim.deviceClock.rtc.setBattery(false);
    await sim.deviceClock.idle();
    await sim.powerCycle(60_000);
    expect((await call(app, 'GET', '/api/settings/clock')).json().now).toBe(new Date(FIRMWARE_EPOCH).toISOString());
    const now = new Date(sim.clock.now()).toISOString();
    expect((await call(app, 'PUT', '/api/settings/clock', { dateTime: now })).json().now).toBe(now);
  });

  it('refuses bad input with 400 and changes nothing', async () => {
    const { sim, app } = await setup();
    const before = JSON.stringify(sim.device.nvram.data);
    for (const body of [
      { timeZone: 'Mars/Olympus', dateTime: '2020-01-01T00:00:00Z' },
      { dateTime: 'yesterday' },
      { ntpEnabled: 'yes' },
      { colour: 'blue' },
      {},
    ]) {
      const res = await call(app, 'PUT', '/api/settings/clock', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error).toBeTruthy();
    }
    expect(JSON.stringify(sim.device.nvram.data)).toBe(before);
    expect(sim.deviceClock.now()).toBe(sim.clock.now());
  });

  it('injects RTC faults (simulation route): step, drift, dead battery; bad input refused, nothing changed', async () => {
    const { sim, app } = await setup();
    const stepped = await call(app, 'POST', '/api/device/clock/fault', { stepMs: -7_200_000, driftPpm: 50 });
    expect(stepped.statusCode).toBe(200);
    expect(sim.deviceClock.now()).toBe(sim.clock.now() - 7_200_000);
    expect(sim.deviceClock.rtc.snapshot()).toMatchObject({ driftPpm: 50 });
    const before = JSON.stringify(sim.device.nvram.data);
    for (const body of [{}, { driftPpm: 1e6 }, { battery: 'flat' }, { stepMs: 1.5 }, { other: 1 }]) {
      expect((await call(app, 'POST', '/api/device/clock/fault', body)).statusCode, JSON.stringify(body)).toBe(400);
    }
    expect(JSON.stringify(sim.device.nvram.data)).toBe(before);
    expect((await call(app, 'POST', '/api/device/clock/fault', { battery: 'dead' })).statusCode).toBe(200);
    await sim.powerCycle(0);
    expect(sim.deviceClock.now()).toBe(FIRMWARE_EPOCH);
  });

  it("the status's now is the printer's clock, the one its deadlines are on", async () => {
    const { sim, app } = await setup();
    sim.deviceClock.rtc.step(-7_200_000);
    const status = (await call(app, 'GET', '/api/status')).json();
    expect(status.now).toBe(new Date(sim.clock.now() - 7_200_000).toISOString());
  });

  it('is in the OpenAPI document', async () => {
    const { app } = await setup();
    const doc = (await call(app, 'GET', '/docs/json')).json();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/settings/clock', '/api/device/clock/sync', '/api/device/clock/fault']));
    expect(doc.paths['/api/settings/clock'].put.requestBody.content['application/json'].schema.properties).toHaveProperty('dateTime');
    expect(JSON.stringify(doc)).toContain('ntpEnabled');
  });

  it('needs credentials', async () => {
    const { app } = await setup();
    expect((await app.inject({ method: 'GET', url: '/api/settings/clock' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'PUT', url: '/api/settings/clock', payload: { ntpEnabled: true } })).statusCode).toBe(401);
  });
});

describe('Date/Time page', () => {
  it('shows the clock, saves date/time, time zone and NTP from the form, and refuses a bad field changing nothing', async () => {
    const { sim, app } = await setup();
    const { cookie, csrf } = await login(app);
    const page = await app.inject({ method: 'GET', url: '/settings/clock', headers: { cookie } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(new Date(sim.clock.now()).toISOString().replace('.000Z', 'Z'));

    const before = JSON.stringify(sim.device.nvram.data);
    const bad = await app.inject({ method: 'POST', url: '/settings/clock', headers: { cookie }, payload: { _csrf: csrf, dateTime: '2020-01-01T00:00:00Z', timeZone: 'Nowhere/Else' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('not an IANA time zone name');
    const bad2 = await app.inject({ method: 'POST', url: '/settings/clock', headers: { cookie }, payload: { _csrf: csrf, dateTime: 'next tuesday', timeZone: 'UTC' } });
    expect(bad2.statusCode).toBe(400);
    expect(JSON.stringify(sim.device.nvram.data)).toBe(before);

    const ok = await app.inject({ method: 'POST', url: '/settings/clock', headers: { cookie }, payload: { _csrf: csrf, dateTime: '2025-03-01T10:00:00Z', timeZone: 'Asia/Tokyo', ntpEnabled: 'on' } });
    expect(ok.statusCode).toBe(302);
    // NTP turned on syncs at once: the clock is right again and the zone is kept.
    expect(sim.deviceClock.status()).toMatchObject({ ntpEnabled: true, timeZone: 'Asia/Tokyo', now: sim.clock.now(), lastSync: { ok: true } });
    const kinds = sim.device.nvram.data.eventLog.map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(['clock.set', 'clock.settings', 'clock.ntp-synced']));
  });
});
