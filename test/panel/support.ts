/** Helpers for the panel's inject tests: a panel over a FakeSimulator, Basic credentials, a logged-in session. */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildPanel } from '../../src/panel/index.ts';
import { FakeSimulator } from './fakeSimulator.ts';
import { afterEach } from 'vitest';
import { startE2E, type E2ESim } from '../e2e/support.ts';

export const ADMIN_PASSWORD = 'Panel-Test-Pass-1';
export const basic = (password = ADMIN_PASSWORD, user = 'admin') => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

export interface PanelUnderTest {
  sim: FakeSimulator;
  app: FastifyInstance;
  close(): Promise<void>;
}

export async function panelUnderTest(opts: { loginRateLimit?: number } = {}): Promise<PanelUnderTest> {
  const sim = await FakeSimulator.create();
  const app = await buildPanel({ sim, adminPassword: ADMIN_PASSWORD, loginRateLimit: opts.loginRateLimit ?? 1000 });
  return {
    sim,
    app,
    close: async () => {
      await app.close();
      await sim.close();
    },
  };
}

/**
 * A panel over a whole simulator (twin, real sockets, the device clock and trust store), closed after each test of the
 * file that calls this at its top level. `setup()` builds it.
 */
export function realPanelPerTest(): { setup: () => Promise<{ sim: E2ESim; app: FastifyInstance }> } {
  let sim: E2ESim | undefined;
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    await sim?.close();
    app = sim = undefined;
  });
  return {
    setup: async () => {
      sim = await startE2E();
      app = await buildPanel({ sim, adminPassword: ADMIN_PASSWORD, loginRateLimit: 1000 });
      return { sim, app };
    },
  };
}

export function cookieFrom(res: LightMyRequestResponse): string {
  const raw = res.headers['set-cookie'];
  const list = Array.isArray(raw) ? raw : raw ? [raw] : [];
  return list.map((c) => c.split(';')[0]).join('; ');
}

export function csrfFrom(html: string): string {
  const m = html.match(/name="_csrf" value="([^"]+)"/);
  if (!m) throw new Error('no CSRF token in the page');
  return m[1]!;
}

/** Logs in through the form like a browser; returns the session cookie and a CSRF token of that session. */
export async function login(app: FastifyInstance, password = ADMIN_PASSWORD): Promise<{ cookie: string; csrf: string }> {
  const page = await app.inject({ method: 'GET', url: '/login' });
  const res = await app.inject({
    method: 'POST',
    url: '/login',
    headers: { cookie: cookieFrom(page) },
    payload: { userName: 'admin', password, _csrf: csrfFrom(page.body) },
  });
  if (res.statusCode !== 302) throw new Error(`login failed: ${res.statusCode}`);
  const cookie = cookieFrom(res);
  const status = await app.inject({ method: 'GET', url: '/status', headers: { cookie } });
  return { cookie: cookieFrom(status) || cookie, csrf: csrfFrom(status.body) };
}

/** The committed NVRAM content, for "nothing changed" assertions. */
export const nvramSnapshot = (sim: FakeSimulator) => JSON.stringify(sim.device.nvram.data);
