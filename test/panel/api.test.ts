/** The panel's JSON API and pages through app.inject(), over a real device with fake Microsoft ports. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OAUTH_SETTINGS } from '../support/deviceHarness.ts';
import { LOCK_MS, MAX_FAILURES } from '../../src/panel/lockout.ts';
import { ADMIN_PASSWORD, basic, cookieFrom, csrfFrom, login, nvramSnapshot, panelUnderTest, type PanelUnderTest } from './support.ts';

let p: PanelUnderTest;
beforeEach(async () => {
  p = await panelUnderTest();
});
afterEach(async () => {
  await p.close();
});

const auth = { authorization: basic() };
const api = (method: string, url: string, payload?: unknown, headers: Record<string, string | undefined> = auth) =>
  p.app.inject({ method: method as 'GET', url, headers: headers as Record<string, string>, ...(payload === undefined ? {} : { payload: payload as object }) });

async function signIn(): Promise<void> {
  expect((await api('PUT', '/api/settings/smtp', OAUTH_SETTINGS)).statusCode).toBe(200);
  expect((await api('POST', '/api/oauth/start')).statusCode).toBe(200);
  await p.sim.device.idle();
  p.sim.harness.fake.lastSignIn().grant();
  await p.sim.device.idle();
  expect(p.sim.device.state()).toBe('authorized');
}

const API_ROUTES: [string, string, unknown?][] = [
  ['GET', '/api/status'],
  ['GET', '/api/settings/smtp'],
  ['PUT', '/api/settings/smtp', OAUTH_SETTINGS],
  ['POST', '/api/oauth/start'],
  ['POST', '/api/oauth/cancel'],
  ['DELETE', '/api/oauth/token'],
  ['POST', '/api/device/retry'],
  ['POST', '/api/device/dismiss'],
  ['POST', '/api/device/factory-reset'],
  ['POST', '/api/device/power-cycle', {}],
  ['POST', '/api/mail/test', { to: 'admin@contoso.com' }],
  ['GET', '/api/jobs'],
  ['GET', '/api/jobs/abc'],
  ['GET', '/api/events'],
  ['GET', '/api/eventlog'],
  ['GET', '/api/nvram'],
  ['GET', '/api/statechart'],
];

const PAGE_POSTS = [
  '/settings/smtp', '/oauth/start', '/oauth/ok', '/oauth/cancel', '/oauth/delete', '/mail/test', '/device/retry',
  '/device/dismiss', '/maintenance/power-cycle', '/maintenance/factory-reset', '/logout',
];
const PAGES = ['/status', '/settings/smtp', '/oauth', '/oauth/code', '/oauth/delete', '/mail/test', '/jobs', '/events', '/statechart', '/nvram', '/maintenance', '/maintenance/factory-reset'];

describe('authentication', () => {
  it('refuses every API route without credentials (401) and with a wrong password, changing nothing', async () => {
    const before = nvramSnapshot(p.sim);
    for (const [method, url, body] of API_ROUTES) {
      for (const headers of [{}, { authorization: basic('wrong-password') }, { authorization: 'Bearer abc' }]) {
        const res = await api(method, url, body, headers);
        expect(res.statusCode, `${method} ${url}`).toBe(401);
        expect(res.json().error).toMatch(/authentication required/);
        expect(res.headers['www-authenticate']).toBeUndefined();
        if (headers.authorization?.startsWith('Basic')) p.sim.harness.clock.advance(LOCK_MS); // stay clear of the lockout
      }
    }
    expect(nvramSnapshot(p.sim)).toBe(before);
    expect(p.sim.device.state()).toBe('unconfigured');
  });

  it('refuses page writes without a session (401) and sends page reads to the login', async () => {
    const before = nvramSnapshot(p.sim);
    for (const url of PAGE_POSTS) {
      const res = await p.app.inject({ method: 'POST', url, payload: { _csrf: 'x' } });
      expect(res.statusCode, url).toBe(401);
    }
    for (const url of PAGES) {
      const res = await p.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(302);
      expect(res.headers.location).toBe('/login');
    }
    expect((await p.app.inject({ method: 'GET', url: '/docs' })).statusCode).toBe(302);
    expect(nvramSnapshot(p.sim)).toBe(before);
  });

  it('accepts Basic admin:<password> and the login session', async () => {
    expect((await api('GET', '/api/status')).json().state).toBe('unconfigured');
    expect((await api('GET', '/api/status', undefined, { authorization: basic(ADMIN_PASSWORD, 'root') })).statusCode).toBe(401);
    const { cookie } = await login(p.app);
    const res = await p.app.inject({ method: 'GET', url: '/api/status', headers: { cookie } });
    expect(res.statusCode).toBe(200);
    const logout = await p.app.inject({ method: 'POST', url: '/logout', headers: { cookie }, payload: { _csrf: csrfFrom((await p.app.inject({ method: 'GET', url: '/status', headers: { cookie } })).body) } });
    expect(logout.statusCode).toBe(302);
    expect((await p.app.inject({ method: 'GET', url: '/api/status', headers: { cookie: cookieFrom(logout) } })).statusCode).toBe(401);
  });

  it('stores only a salted scrypt hash of the password in NVRAM', async () => {
    const stored = p.sim.device.nvram.data.panel.adminPassword as { alg: string; salt: string; hash: string };
    expect(stored.alg).toBe('scrypt');
    expect(stored.salt.length).toBeGreaterThan(10);
    expect(JSON.stringify(p.sim.device.nvram.data)).not.toContain(ADMIN_PASSWORD);
    expect((await api('GET', '/api/nvram')).body).not.toContain(stored.hash);
  });

  it('locks logins out after 5 failures (Basic and form alike), even the right password, until the lock expires', async () => {
    for (let i = 0; i < MAX_FAILURES; i++) {
      expect((await api('GET', '/api/status', undefined, { authorization: basic(`guess-${i}`) })).statusCode).toBe(401);
    }
    const locked = await api('GET', '/api/status');
    expect(locked.statusCode).toBe(429);
    const page = await p.app.inject({ method: 'GET', url: '/login' });
    const form = await p.app.inject({
      method: 'POST', url: '/login', headers: { cookie: cookieFrom(page) },
      payload: { userName: 'admin', password: ADMIN_PASSWORD, _csrf: csrfFrom(page.body) },
    });
    expect(form.statusCode).toBe(429);
    expect(form.body).toContain('Too many failed logins');
    expect(cookieFrom(form)).not.toMatch(/wim_session=[^;]{200,}/); // no admin session handed out
    await p.sim.harness.clock.advance(LOCK_MS);
    expect((await api('GET', '/api/status')).statusCode).toBe(200);
  });

  it('rate-limits the login form per client', async () => {
    const limited = await panelUnderTest({ loginRateLimit: 3 });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 4; i++) {
        const page = await limited.app.inject({ method: 'GET', url: '/login' });
        const res = await limited.app.inject({
          method: 'POST', url: '/login', headers: { cookie: cookieFrom(page) },
          payload: { userName: 'admin', password: 'nope', _csrf: csrfFrom(page.body) },
        });
        codes.push(res.statusCode);
      }
      expect(codes).toEqual([401, 401, 401, 429]);
    } finally {
      await limited.close();
    }
  });
});

describe('CSRF', () => {
  it('refuses session writes to the API without or with a wrong x-csrf-token; Basic needs none', async () => {
    const { cookie, csrf } = await login(p.app);
    const before = nvramSnapshot(p.sim);
    for (const headers of [{ cookie }, { cookie, 'x-csrf-token': 'forged' }, { cookie, 'x-csrf-token': csrf.slice(0, -2) + 'xx' }]) {
      const res = await api('PUT', '/api/settings/smtp', OAUTH_SETTINGS, headers);
      expect(res.statusCode).toBe(403);
      expect(res.json().error).toMatch(/CSRF/);
      expect((await api('POST', '/api/oauth/start', undefined, headers)).statusCode).toBe(403);
    }
    expect(nvramSnapshot(p.sim)).toBe(before);
    const ok = await api('PUT', '/api/settings/smtp', OAUTH_SETTINGS, { cookie, 'x-csrf-token': csrf });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().state).toBe('ready');
  });

  it('refuses every page form without or with a wrong _csrf, changing nothing', async () => {
    const { cookie } = await login(p.app);
    const other = await login(p.app); // a token from another session is wrong here
    const before = nvramSnapshot(p.sim);
    for (const url of PAGE_POSTS) {
      for (const payload of [{}, { _csrf: 'forged' }, { _csrf: other.csrf }]) {
        const res = await p.app.inject({ method: 'POST', url, headers: { cookie }, payload });
        expect(res.statusCode, `${url} ${JSON.stringify(payload)}`).toBe(403);
      }
    }
    expect(nvramSnapshot(p.sim)).toBe(before);
  });

  it('refuses a login without a CSRF token (login CSRF)', async () => {
    const res = await p.app.inject({ method: 'POST', url: '/login', payload: { userName: 'admin', password: ADMIN_PASSWORD } });
    expect(res.statusCode).toBe(403);
  });
});

describe('input validation', () => {
  const BAD_SETTINGS: [unknown, string][] = [
    [{ smtpPort: 0 }, 'smtpPort'],
    [{ smtpPort: '587' }, 'smtpPort'],
    [{ smtpPort: 1.5 }, 'smtpPort'],
    [{ useSecureConnection: 'yes' }, 'useSecureConnection'],
    [{ authMethod: 'basic' }, 'authMethod'],
    [{ authEmailAddress: 'not-an-address' }, 'authEmailAddress'],
    [{ adminEmailAddress: 'a@' }, 'adminEmailAddress'],
    [{ smtpServerName: 'bad host!' }, 'smtpServerName'],
    [{ smtpServerName: '' }, 'smtpServerName'],
    [{ password: 'x' }, 'password'],
  ];

  it('answers 400 with a message per field and saves nothing', async () => {
    const before = nvramSnapshot(p.sim);
    for (const [body, field] of BAD_SETTINGS) {
      const res = await api('PUT', '/api/settings/smtp', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(Object.keys(res.json().fields)).toContain(field);
    }
    for (const body of ['not json', '[1,2]', 'null']) {
      const res = await p.app.inject({ method: 'PUT', url: '/api/settings/smtp', headers: { ...auth, 'content-type': 'application/json' }, payload: body });
      expect(res.statusCode).toBe(400);
    }
    const mail: [unknown, string][] = [[{}, 'to'], [{ to: 'nobody' }, 'to.0'], [{ to: [] }, 'to'], [{ to: 5 }, 'to'], [{ to: 'a@b.example', cc: 'x' }, 'cc']];
    for (const [body, field] of mail) {
      const res = await api('POST', '/api/mail/test', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(Object.keys(res.json().fields)).toContain(field);
    }
    expect((await api('POST', '/api/device/power-cycle', { offMs: -1 })).statusCode).toBe(400);
    expect(nvramSnapshot(p.sim)).toBe(before);
    expect(p.sim.device.state()).toBe('unconfigured');
  });

  it('shows field messages on the SMTP page and keeps the saved settings', async () => {
    const { cookie, csrf } = await login(p.app);
    const before = nvramSnapshot(p.sim);
    const res = await p.app.inject({
      method: 'POST', url: '/settings/smtp', headers: { cookie },
      payload: { _csrf: csrf, smtpServerName: 'smtp.office365.com', smtpPort: '99999', authMethod: 'oauth2ExchangeOnline', authEmailAddress: 'nope', authUsername: 'scanner@contoso.com', adminEmailAddress: '' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain('SMTP Port No. must be 1 to 65535');
    expect(res.body).toContain('Auth. Email Address is not an e-mail address');
    expect(res.body).toContain('value="99999"'); // what was typed stays in the form
    expect(nvramSnapshot(p.sim)).toBe(before);
  });
});

describe('the device through the API', () => {
  it('runs the seed journey: settings, start, code, grant, test e-mail, delete token', async () => {
    const put = await api('PUT', '/api/settings/smtp', { ...OAUTH_SETTINGS, adminEmailAddress: 'frontdesk@contoso.com' });
    expect(put.json()).toMatchObject({ state: 'ready', settings: { authMethod: 'oauth2ExchangeOnline' } });
    expect(put.json().warnings.join(' ')).toMatch(/Send As/);
    expect((await api('GET', '/api/settings/smtp')).json()).toEqual({ ...OAUTH_SETTINGS, adminEmailAddress: 'frontdesk@contoso.com' });

    expect((await api('POST', '/api/oauth/start')).json()).toEqual({ accepted: true, state: 'requestingCode' });
    await p.sim.device.idle();
    const pending = (await api('GET', '/api/status')).json();
    expect(pending).toMatchObject({ state: 'codePending', userCode: 'FAKECODE1', verificationUri: 'https://fake.example/devicelogin', account: 'scanner@contoso.com' });
    expect(new Date(pending.expiresAt).getTime() - p.sim.clock.now()).toBe(900_000);

    p.sim.harness.fake.lastSignIn().grant();
    await p.sim.device.idle();
    const authorized = (await api('GET', '/api/status')).json();
    expect(authorized).toMatchObject({ state: 'authorized', userCode: null, lastError: null });
    expect(Date.parse(authorized.tokenExpiresAt)).toBe(p.sim.clock.now() + 3_600_000);

    const queued = await api('POST', '/api/mail/test', { to: 'admin@contoso.com', subject: 'hello', body: 'test' });
    expect(queued.statusCode).toBe(202);
    const { jobId } = queued.json();
    await p.sim.device.idle();
    const job = (await api('GET', `/api/jobs/${jobId}`)).json();
    expect(job).toMatchObject({ id: jobId, status: 'sent', reply: '250 2.0.0 OK', to: ['admin@contoso.com'], subject: 'hello' });
    expect(job.messageId).toMatch(/^<.+>$/);
    expect((await api('GET', '/api/jobs')).json().map((j: { id: string }) => j.id)).toContain(jobId);
    expect(p.sim.harness.fake.sent.at(-1)).toMatchObject({ subject: 'hello', from: 'frontdesk@contoso.com' });
    expect((await api('GET', '/api/jobs/no-such-job')).statusCode).toBe(404);

    const log = (await api('GET', '/api/eventlog')).json() as { message: string; at: string }[];
    expect(log.map((e) => e.message)).toContain('codePending → authorized on TOKEN_GRANTED');

    expect((await api('DELETE', '/api/oauth/token')).json()).toEqual({ accepted: true, state: 'ready' });
  });

  it('answers 409 { error, state } for an operator event the state does not handle, changing nothing', async () => {
    const before = nvramSnapshot(p.sim);
    for (const [method, url] of [['POST', '/api/oauth/cancel'], ['DELETE', '/api/oauth/token'], ['POST', '/api/device/retry'], ['POST', '/api/device/dismiss'], ['POST', '/api/oauth/start']]) {
      const res = await api(method!, url!);
      expect(res.statusCode, url).toBe(409);
      expect(res.json()).toMatchObject({ state: 'unconfigured', error: expect.stringMatching(/not handled in state unconfigured/) });
    }
    expect(nvramSnapshot(p.sim)).toBe(before);
  });

  it('power-cycles (the panel follows the new device) and factory-resets', async () => {
    await signIn();
    const first = p.sim.device;
    const res = await api('POST', '/api/device/power-cycle', { offMs: 2 * 3_600_000 });
    expect(res.json()).toEqual({ state: 'tokenExpired' });
    expect(p.sim.device).not.toBe(first);
    expect((await api('GET', '/api/status')).json().state).toBe('tokenExpired');
    expect((await api('POST', '/api/device/factory-reset')).json()).toEqual({ accepted: true, state: 'unconfigured' });
    expect((await api('GET', '/api/settings/smtp')).json().authMethod).toBe('off');
    // The administrator password survives a factory reset of the scan settings.
    expect((await api('GET', '/api/status')).statusCode).toBe(200);
  });

  it('serves the statechart table and NVRAM without secrets', async () => {
    await signIn();
    const sc = (await api('GET', '/api/statechart')).json();
    expect(sc.states).toHaveLength(12); // the eleven public states and app-only's requestingToken
    expect(sc.current).toBe('authorized');
    expect(sc.transitions.some((t: { source: string; event: string; target: string }) => t.source === 'codePending' && t.event === 'TOKEN_GRANTED' && t.target === 'authorized')).toBe(true);
    const nv = await api('GET', '/api/nvram');
    expect(nv.json().banks).toHaveLength(2);
    expect(nv.json().secrets.map((s: { name: string }) => s.name)).toContain('msal-cache');
    for (const secret of ['rt-for-', 'at-secret', ADMIN_PASSWORD]) expect(nv.body).not.toContain(secret);
    const svg = await p.app.inject({ method: 'GET', url: '/statechart.svg', headers: { cookie: (await login(p.app)).cookie } });
    expect(svg.headers['content-type']).toMatch(/image\/svg\+xml/);
    expect(svg.body).toMatch(/class="state current" data-state="authorized"/);
  });

  it('publishes an OpenAPI document with every API route', async () => {
    const doc = (await api('GET', '/docs/json')).json();
    for (const path of ['/api/status', '/api/settings/smtp', '/api/oauth/start', '/api/oauth/cancel', '/api/oauth/token', '/api/mail/test', '/api/jobs', '/api/jobs/{id}', '/api/events', '/api/nvram', '/api/statechart', '/api/device/power-cycle']) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
  });
});

describe('pages', () => {
  it('renders every page with a strict CSP, no inline script, and no secret', async () => {
    await signIn();
    const { cookie } = await login(p.app);
    for (const url of PAGES) {
      const res = await p.app.inject({ method: 'GET', url, headers: { cookie } });
      expect(res.statusCode, url).toBe(200);
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(res.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(res.body).not.toMatch(/\son[a-z]+="/); // no inline event handlers
      for (const secret of ['rt-for-', 'at-secret', ADMIN_PASSWORD]) expect(res.body).not.toContain(secret);
    }
  });

  it('OK on the code screen: stays while pending, goes to Status "Authenticated" once authorized', async () => {
    await api('PUT', '/api/settings/smtp', OAUTH_SETTINGS);
    let { cookie, csrf } = await login(p.app);
    const start = await p.app.inject({ method: 'POST', url: '/oauth/start', headers: { cookie }, payload: { _csrf: csrf } });
    expect(start.headers.location).toBe('/oauth/code');
    const code = await p.app.inject({ method: 'GET', url: '/oauth/code', headers: { cookie } });
    expect(code.body).toContain('FAKECODE1');
    expect(code.body).toMatch(/<a href="https:\/\/fake.example\/devicelogin" target="_blank" rel="noopener noreferrer"[^>]*>\[Microsoft\]<\/a>/);
    expect(code.body).toContain('data-countdown="900"');
    const early = await p.app.inject({ method: 'POST', url: '/oauth/ok', headers: { cookie }, payload: { _csrf: csrf } });
    expect(early.statusCode).toBe(200);
    expect(early.body).toContain('Authentication is not complete yet');
    p.sim.harness.fake.lastSignIn().grant();
    await p.sim.device.idle();
    const ok = await p.app.inject({ method: 'POST', url: '/oauth/ok', headers: { cookie }, payload: { _csrf: csrf } });
    expect(ok.headers.location).toBe('/status');
    cookie = cookieFrom(ok) || cookie;
    const status = await p.app.inject({ method: 'GET', url: '/status', headers: { cookie } });
    expect(status.body).toMatch(/id="status-state" data-state="authorized">Authenticated</);
    expect(status.body).toContain('Authenticated as scanner@contoso.com');
    csrf = csrfFrom(status.body);
    const del = await p.app.inject({ method: 'POST', url: '/oauth/delete', headers: { cookie }, payload: { _csrf: csrf } });
    expect(del.statusCode).toBe(302);
    expect(p.sim.device.state()).toBe('ready');
  });

  it('warns on the SMTP page when Auth. Username or the sender differ from Auth. Email Address', async () => {
    await api('PUT', '/api/settings/smtp', { ...OAUTH_SETTINGS, authUsername: 'admin@contoso.com', adminEmailAddress: 'frontdesk@contoso.com' });
    const { cookie } = await login(p.app);
    const page = await p.app.inject({ method: 'GET', url: '/settings/smtp', headers: { cookie } });
    expect(page.body).toContain('Auth. Username differs from Auth. Email Address');
    expect(page.body).toContain('Send As');
    for (const label of ['SMTP Server Name', 'SMTP Port No.', 'Use Secure Connection (SSL)', 'Email Send Authentication Method', 'Auth. Email Address', 'Auth. Username', 'Administrator E-mail Address', '>Off<', '>SMTP Authentication<', '>OAuth2.0 (for Exchange Online)<']) {
      expect(page.body).toContain(label);
    }
  });
});
