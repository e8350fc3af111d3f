/**
 * What a tool sees of a device beyond its state: the structured boot report (fresh, restored, recovered, migrated,
 * and the boot's own transitions), the simulator's inspection capabilities (the image read back, the held token
 * texts, the redacted content), identity, and what abandoned work may not leave behind.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { copyFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DeviceHarness, OAUTH_SETTINGS } from '../support/deviceHarness.ts';
import { TOKEN_CACHE_SECRET } from '../../src/device/device.ts';
import { protocolCode, SignInFailure } from '../../src/device/failures.ts';

let h: DeviceHarness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

describe('the boot report', () => {
  it('first boot: fresh, from bank A, no state before, one first-boot reason', async () => {
    h = await DeviceHarness.create();
    const r = h.device.bootReport();
    expect(r).toMatchObject({ at: h.clock.now(), outcome: 'fresh', migratedFrom: null, stateBefore: null, stateAfter: 'unconfigured', transitions: [] });
    expect(r.bank).toBe(h.nvram.boot.bank);
    expect(r.seq).toBe(h.nvram.boot.seq);
    expect(r.reasons).toEqual([{ code: 'first-boot', detail: 'first boot of the OAuth feature' }]);
  });

  it('restored after a power cycle: the state before, the boot’s own transitions, the state after', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    await h.powerCycle(5 * 60_000);
    expect(h.device.bootReport()).toMatchObject({ at: h.clock.now(), outcome: 'restored', stateBefore: 'authorized', stateAfter: 'authorized', transitions: [], reasons: [] });
    // A night off: POWER_CYCLE moves the restored state on, and the report lists that step.
    await h.powerCycle(10 * 60 * 60_000);
    const r = h.device.bootReport();
    expect(r).toMatchObject({ outcome: 'restored', stateBefore: 'authorized', stateAfter: 'tokenExpired', reasons: [] });
    expect(r.transitions).toHaveLength(1);
    expect(r.transitions[0]).toMatchObject({ from: 'authorized', to: 'tokenExpired', event: 'POWER_CYCLE', reason: null, status: { state: 'tokenExpired' } });
    // Transitions after the device first settled are not the boot's.
    await h.device.send({ type: 'SIGN_OUT' });
    expect(h.device.bootReport().transitions).toHaveLength(1);
    expect(h.device.bootReport().stateAfter).toBe('tokenExpired');
  });

  it('an interrupted sign-in: the boot’s transition carries the reason', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(OAUTH_SETTINGS);
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    await h.powerCycle(1000);
    const r = h.device.bootReport();
    expect(r).toMatchObject({ stateBefore: 'codePending', stateAfter: 'authFailed' });
    expect(r.transitions.map((t) => [t.from, t.to, t.reason])).toEqual([['codePending', 'authFailed', 'interrupted-by-restart']]);
  });

  it('a stored snapshot that does not fit the statechart: recovered from the settings, with its reason and log line', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(OAUTH_SETTINGS);
    await h.nvram.update((draft) => {
      draft.snapshot = { value: 'noSuchState', context: {}, since: 0 };
    });
    await h.powerCycle(1000);
    expect(h.device.state()).toBe('ready');
    expect(h.device.bootReport()).toMatchObject({ outcome: 'recovered', stateBefore: null, stateAfter: 'ready' });
    expect(h.device.bootReport().reasons).toEqual([{ code: 'snapshot-unreadable', detail: 'stored state was unreadable; started from the settings' }]);
    expect(h.device.eventLog().at(-1)).toMatchObject({ kind: 'boot', message: 'stored state was unreadable; started in ready from the settings' });
    // It wrote a good snapshot: the next boot restores it.
    await h.powerCycle(1000);
    expect(h.device.bootReport()).toMatchObject({ outcome: 'restored', stateBefore: 'ready', reasons: [] });
  });

  it('a firmware-1 image: migrated, with the version it came from', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mfp-obs-'));
    await copyFile(path.resolve('fixtures/nvram/firmware-1.img'), path.join(dir, 'nvram.json'));
    h = await DeviceHarness.create(dir);
    const r = h.device.bootReport();
    expect(r.migratedFrom).toBe(1);
    expect(r.reasons).toContainEqual({ code: 'migrated', detail: 'migrated from firmware 1', data: { from: 1 } });
    expect(r.reasons).toContainEqual({ code: 'first-boot', detail: 'first boot of the OAuth feature' });
  });
});

describe('inspection capabilities and identity', () => {
  it('held token texts: the long secrets of an MSAL-shaped cache, nothing for short, missing or unreadable ones', async () => {
    h = await DeviceHarness.create();
    expect(h.device.heldTokenTexts()).toEqual([]);
    const cache = {
      AccessToken: { a: { secret: 'access-token-0123456789' }, short: { secret: 'short' }, odd: { secret: 12345678901234567 } },
      RefreshToken: { r: { secret: 'refresh-token-0123456789' } },
      IdToken: { i: { secret: 'id-token-0123456789abc' } },
      Account: { x: { secret: 'not-a-token-section-000' } },
    };
    await h.nvram.update((_draft, vault) => vault.set(TOKEN_CACHE_SECRET, JSON.stringify(cache)));
    expect(h.device.heldTokenTexts()).toEqual(['access-token-0123456789', 'refresh-token-0123456789', 'id-token-0123456789abc']);
    await h.nvram.update((_draft, vault) => vault.set(TOKEN_CACHE_SECRET, JSON.stringify({ RefreshToken: { r: { secret: 'refresh-token-0123456789' } } })));
    expect(h.device.heldTokenTexts()).toEqual(['refresh-token-0123456789']);
    await h.nvram.update((_draft, vault) => vault.set(TOKEN_CACHE_SECRET, '{not json'));
    expect(h.device.heldTokenTexts()).toEqual([]);
  });

  it('the image read back from the medium is valid and holds no token text; the content is redacted', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    const image = await h.device.inspectImage();
    expect(image.valid).toBe(true);
    expect(image.reason).toBeNull();
    expect(image.content).toMatchObject({ settings: { smtp: { authUsername: 'scanner@contoso.com' } } });
    expect(JSON.stringify(image.content)).not.toContain('at-secret-1');
    const content = h.device.nvramContent();
    expect(content).toMatchObject({ settings: { smtp: { authUsername: 'scanner@contoso.com' } } });
    expect(JSON.stringify(content)).not.toContain('at-secret-1');
  });

  it('identity, settings, jobs and the event log are copies: changing them changes nothing in the device', async () => {
    h = await DeviceHarness.create();
    expect(h.device.identity()).toEqual({ id: 'dev-test-0001', serial: 'SIM0001', model: 'mfp-oauth-sim', firmware: expect.any(Number) });
    expect(h.device.id).toBe('dev-test-0001');
    await h.device.saveSettings(OAUTH_SETTINGS);
    h.device.settings().smtpPort = 1;
    expect(h.device.settings().smtpPort).toBe(587);
    const job = await h.device.submitJob({ to: ['a@contoso.com'], subject: 's' });
    expect(job.messageId).toBe(`<${job.id}@sim0001.mfp-sim.invalid>`);
    await h.device.idle();
    h.device.jobs()[0]!.status = 'sent';
    h.device.job(job.id)!.status = 'sent';
    expect(h.device.job(job.id)?.status).toBe('held');
    expect(h.device.job('no-such-job')).toBeUndefined();
    h.fake.nextCodeFailure = new SignInFailure({ kind: 'code-request-failed', reason: 'unknown-client', code: protocolCode('aadsts', '700016'), reply: 'no app' });
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    const withData = h.device.eventLog().find((e) => e.data);
    withData!.data!.reason = 'changed';
    expect(h.device.eventLog().find((e) => e.data)?.data?.reason).toBe('unknown-client');
  });
});

describe('abandoned work', () => {
  it('a sign-in cancelled before its grant cannot slip its tokens into the next write', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(OAUTH_SETTINGS);
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    const first = h.fake.lastSignIn();
    await h.device.send({ type: 'CANCEL_AUTH' });
    first.grant(); // stages a cache after the cancel, then resolves
    await h.device.idle();
    expect(h.fake.tokenCache!.load()).toBeUndefined();
    await h.device.saveSettings({ smtpPort: 25 });
    expect(h.nvram.secrets.has(TOKEN_CACHE_SECRET)).toBe(false);
    expect(h.device.state()).toBe('ready');
  });
});

describe('abandoned refreshes', () => {
  it('a refresh that completes after a sign-out leaves no tokens behind', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    await h.advance(60 * 60_000);
    const release = h.fake.gateRefreshes();
    const job = await h.device.submitJob({ to: ['a@contoso.com'], subject: 's' });
    // idle() would wait for the gated refresh: wait for the state instead (the spool's fsync takes real time).
    for (let i = 0; i < 2000 && h.device.state() !== 'refreshing'; i++) await new Promise((r) => setTimeout(r, 5));
    expect(h.device.state()).toBe('refreshing');
    await h.device.send({ type: 'SIGN_OUT' });
    expect(h.device.state()).toBe('ready');
    expect(h.nvram.secrets.has(TOKEN_CACHE_SECRET)).toBe(false);
    // The job goes back to the spool and is held (not signed in); wait for that write before the refresh answers.
    for (let i = 0; i < 2000 && h.device.job(job.id)?.status !== 'held'; i++) await new Promise((r) => setTimeout(r, 5));
    expect(h.device.job(job.id)?.status).toBe('held');
    release(); // the refresh answers now, and stages a new cache
    await h.device.idle();
    expect(h.fake.refreshCalls).toBe(1);
    expect(h.device.state()).toBe('ready');
    expect(h.fake.tokenCache!.load()).toBeUndefined();
    expect(h.nvram.secrets.has(TOKEN_CACHE_SECRET)).toBe(false);
  });
});

describe('the boot report of a damaged image', () => {
  it('a bank that fails its checks: recovered, with the NVRAM’s coded finding as a reason', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mfp-obs-'));
    await copyFile(path.resolve('fixtures/nvram/crc-mismatch.img'), path.join(dir, 'nvram.json'));
    h = await DeviceHarness.create(dir);
    const r = h.device.bootReport();
    expect(r.outcome).toBe('recovered');
    expect(r.reasons.length).toBeGreaterThan(0);
    expect(r.reasons.map((x) => x.code)).toEqual([...h.nvram.boot.findings.map((f) => f.code), ...r.reasons.slice(h.nvram.boot.findings.length).map((x) => x.code)]);
    expect(r.reasons[0]).toEqual({ code: h.nvram.boot.findings[0]!.code, detail: h.nvram.boot.findings[0]!.message });
  });
});
