/**
 * The seed journey (steps 1–8) as a person does it, in Debian's Chromium driven by playwright-core, against the real
 * simulator (device + msal-node + nodemailer adapters + embedded twin) on a real clock, with the twin polling every
 * second. Screenshots of each step go to reports/screenshots/ (git-ignored test artifacts).
 *
 * Chromium missing: with CI set the test FAILS (CI must install it); without CI it is skipped with a printed reason.
 */
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { Agent, fetch as undiciFetch } from 'undici';
import { startSimulator } from '../../src/sim/simulator.ts';
import { DEFAULT_TENANT_FILE } from '../../src/cloud/tenant-fixture.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { startPanel, type RunningPanel } from '../../src/panel/index.ts';
import { CHROMIUM, CHROMIUM_FLAGS, chromiumPresent, requireChromium, skipWithoutChromium } from '../support/chromium.ts';

const SHOTS = path.resolve('reports/screenshots');
const SCANNER = 'scanner@contoso.com';
const RECIPIENT = 'admin@contoso.com';
const ADMIN_PASSWORD = 'browser-test-admin-pass';

describe.skipIf(skipWithoutChromium('panel browser test'))('Web Image Monitor in Chromium: the seed journey', () => {
  let sim: Awaited<ReturnType<typeof startSimulator>>;
  let panel: RunningPanel;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let step = 0;
  const shot = async (p: Page, name: string) => {
    step++;
    await p.screenshot({ path: path.join(SHOTS, `${String(step).padStart(2, '0')}-${name}.png`), fullPage: true });
  };

  beforeAll(async () => {
    if (!chromiumPresent) return; // the test itself fails below (CI only)
    await mkdir(SHOTS, { recursive: true });
    const dir = await mkdtemp(path.join(tmpdir(), 'mfp-panel-browser-'));
    const fixture = JSON.parse(await readFile(DEFAULT_TENANT_FILE, 'utf8'));
    fixture.deviceCode.intervalSeconds = 1; // MSAL polls every second instead of five
    const tenantFile = path.join(dir, 'tenant.json');
    await writeFile(tenantFile, JSON.stringify(fixture));
    sim = await startSimulator({ stateDir: dir, clock: 'real', cloud: { mode: 'twin', tenantFile, seed: 11 }, logger: silentLogger() });
    panel = await startPanel({ sim, port: 0, adminPassword: ADMIN_PASSWORD });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true });
    context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 } });
    page = await context.newPage();
  }, 60_000);

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await panel?.close();
    await sim?.close();
  });

  it('logs in, configures OAuth, signs in at Microsoft with MFA, sees Authenticated, sends a test e-mail', async () => {
    requireChromium();
    // Log in.
    await page.goto(`${panel.url}/login`);
    await shot(page, 'login');
    await page.fill('#password', ADMIN_PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/status$/);
    await shot(page, 'status-unconfigured');

    // Steps 1–3: method, Auth. Email Address, Auth. Username (and the sender).
    await page.click('nav >> text=SMTP');
    await page.getByLabel('Email Send Authentication Method').selectOption({ label: 'OAuth2.0 (for Exchange Online)' });
    await page.getByLabel('Auth. Email Address').fill(SCANNER);
    await page.getByLabel('Auth. Username').fill(SCANNER);
    await page.getByLabel('Administrator E-mail Address').fill(SCANNER);
    await shot(page, 'smtp-filled');
    await page.click('button:has-text("OK")');
    await page.waitForSelector('.flash-ok');
    expect(sim.device.state()).toBe('ready');

    // Step 4: "Start Authentication" in "OAuth 2.0 Authentication" in "SMTP", where the seed places it (the saved
    // page shows the block under the method; its button submits a form outside the settings form).
    await page.click('#oauth-authentication #start-authentication');
    await page.waitForSelector('#user-code', { timeout: 20_000 });
    const userCode = (await page.textContent('#user-code'))!.trim();
    expect(userCode).toMatch(/^[A-Z0-9]{6,12}$/);
    expect(userCode).toBe(sim.device.status().userCode);
    await shot(page, 'code-screen');

    // Step 5: copy the code, click [Microsoft] (a new window).
    await page.click('#copy-code');
    const [ms] = await Promise.all([context.waitForEvent('page'), page.click('#microsoft-link')]);
    await ms.waitForLoadState();
    expect(ms.url()).toContain('/devicelogin');

    // Steps 6–7: code, account, password, one-time code from the phone, continue.
    await ms.fill('#otc', userCode);
    await shot(ms, 'microsoft-code');
    await ms.click('button[type=submit]');
    await ms.fill('#login', SCANNER);
    await shot(ms, 'microsoft-account');
    await ms.click('button[type=submit]');
    await ms.fill('#passwd', await fixturePassword(SCANNER));
    await ms.click('button[type=submit]');
    await ms.waitForSelector('#otc_mfa');
    await shot(ms, 'microsoft-verify');
    const phone = await context.newPage();
    await phone.goto(`${sim.twin!.entraUrl}/_twin/phone/${SCANNER}`);
    await shot(phone, 'phone');
    const otp = (await phone.textContent('ol.phone li'))!.match(/\b(\d{6,8})\b/)![1]!;
    await phone.close();
    await ms.fill('#otc_mfa', otp);
    await ms.click('button[type=submit]');
    await ms.click('button[value=continue]');
    await ms.waitForSelector('text=You may now close this window');
    await shot(ms, 'microsoft-done');
    await ms.close();

    // Step 7 (end): click OK on WIM, once the code screen says the sign-in is complete (it follows the device live).
    await page.waitForSelector('text=Microsoft sign-in complete', { timeout: 30_000 });
    await shot(page, 'code-screen-complete');
    await page.click('#ok-button');
    // Step 8: authenticated.
    await page.waitForURL(/\/status$/);
    await expect(page.textContent('#status-state')).resolves.toBe('Authenticated');
    await shot(page, 'status-authenticated');

    // Send Test E-mail and find it in the twin's mailbox through the control API.
    const subject = `Panel browser test ${Date.now()}`;
    await page.click('nav >> text=Send Test E-mail');
    await page.fill('#to', RECIPIENT);
    await page.fill('#subject', subject);
    await page.click('#send-test');
    await page.waitForURL(/\/jobs$/);
    await page.waitForSelector('.pill.status-sent', { timeout: 30_000 });
    await shot(page, 'job-log-sent');

    const agent = new Agent({ connect: { ca: sim.twin!.caPem } });
    try {
      const res = await undiciFetch(`${sim.twin!.entraUrl}/_twin/mailboxes/${RECIPIENT}/messages`, { dispatcher: agent });
      expect(res.status).toBe(200);
      const messages = JSON.stringify(await res.json());
      expect(messages).toContain(subject);
    } finally {
      await agent.close();
    }

    for (const [nav, name] of [['Event Log', 'event-log'], ['Statechart', 'statechart'], ['NVRAM', 'nvram']] as const) {
      await page.click(`nav >> text=${nav}`);
      await shot(page, name);
    }
    // No secret on any page: the admin password never appears.
    expect(await page.content()).not.toContain(ADMIN_PASSWORD);
  }, 120_000);
});

/** The fixture user's password (test data of a fake user), as the person at the keyboard would know it. */
async function fixturePassword(upn: string): Promise<string> {
  const fixture = JSON.parse(await readFile(DEFAULT_TENANT_FILE, 'utf8')) as { users: { upn: string; password: string }[] };
  return fixture.users.find((u) => u.upn === upn)!.password;
}
