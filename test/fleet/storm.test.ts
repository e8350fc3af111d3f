/**
 * Fleet storms at a small size: 20 printers against one twin whose tenant allows 6 token requests per second per
 * app. After a site power outage every printer boots with an expired token at once: the tenant throttles, the
 * printers honour Retry-After and back off, the whole site recovers, and no mail is lost. With retry jitter the
 * retries no longer come in waves: their peak is lower. After an admin revokes every session the site recovers too:
 * the admin signs every printer in again and their held mail goes. Functional only: nothing here is timed (the figures are
 * virtual time, and the same on any machine).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runStorm, checkStormOptions, stormChartSvg, type StormOptions, type StormReport } from '../../src/fleet/storm.ts';
import { TenantThrottle, checkThrottlePolicy, THROTTLING_OFF } from '../../src/cloud/throttling.ts';
import { stormCommand } from '../../src/fleet/storm-cli.ts';
import { refreshFailedEvent, sendFailedEvent } from '../../src/device/effects.ts';
import { RefreshFailure, SendFailure } from '../../src/device/failures.ts';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const DEVICES = 20;
/** Token requests per second the tenant lets the app make: 20 printers need four waves without jitter (14, 8, 2 left). */
const PER_APP = 6;
async function storm(over: Partial<StormOptions>): Promise<StormReport> {
  const stateDir = await mkdtemp(path.join(tmpdir(), 'mfp-storm-test-'));
  dirs.push(stateDir);
  return runStorm({
    devices: DEVICES,
    event: 'outage',
    jitter: null,
    stateDir,
    seed: 7,
    concurrency: 8,
    throttling: { ...THROTTLING_OFF, tokenRequestsPerSecondPerApp: PER_APP },
    ...over,
  });
}

describe('a site power outage against a throttled tenant', () => {
  let plain: StormReport;
  let jittered: StormReport;

  it('throttles the wave of refreshes, and the site recovers with no mail lost (no jitter)', async () => {
    plain = await storm({});
    expect(plain.throttled).toBeGreaterThan(0);
    // Every printer asked in the first second; only PER_APP were let through.
    expect(plain.perSecond[0]!.tokenRequests).toBe(DEVICES);
    expect(plain.perSecond[0]!.throttled).toBe(DEVICES - PER_APP);
    expect(plain.recovered).toBe(true);
    expect(plain.healthy).toBe(DEVICES);
    expect(plain.mailsSent).toBe(DEVICES);
    expect(plain.mailsLost).toBe(0);
    expect(plain.mailsDelayed).toBe(DEVICES - PER_APP);
    expect(plain.msTo99PercentHealthy).not.toBeNull();
    expect(plain.chartSvg).toMatch(/^<svg[^>]*>.*<polyline/);
  }, 300_000);

  it('with jitter: the same recovery, the retries spread out (a lower retry peak), 99% healthy sooner', async () => {
    jittered = await storm({ jitter: 0.5 });
    expect(jittered.throttled).toBeGreaterThan(0);
    expect(jittered.recovered).toBe(true);
    expect(jittered.mailsLost).toBe(0);
    expect(jittered.peakRetryRequestsPerSecond).toBeLessThan(plain.peakRetryRequestsPerSecond);
    expect(jittered.throttled).toBeLessThan(plain.throttled);
    expect(jittered.msTo99PercentHealthy!).toBeLessThan(plain.msTo99PercentHealthy!);
  }, 300_000);
});

describe('an admin revoking every session against a throttled tenant', () => {
  it('the refreshes are refused or throttled, the admin signs the site in again, and it recovers with no mail lost', async () => {
    const revoked = await storm({ event: 'revoke' });
    // Every printer asked in the event's second (its refresh); only PER_APP were answered, the rest throttled.
    expect(revoked.perSecond[0]!.tokenRequests).toBeGreaterThanOrEqual(DEVICES);
    expect(revoked.throttled).toBeGreaterThan(0);
    // Device-code polls over the limit are told to keep polling, so the throttle does not end the new sign-ins.
    expect(revoked.recovered).toBe(true);
    expect(revoked.healthy).toBe(DEVICES);
    expect(revoked.mailsSent).toBe(DEVICES);
    expect(revoked.mailsLost).toBe(0);
    expect(revoked.mailsDelayed).toBe(DEVICES);
  }, 300_000);
});

describe('the tenant throttle', () => {
  it('limits token requests per second per app and per tenant, with Retry-After to the end of the window', () => {
    let now = 1_000_000_250;
    const t = new TenantThrottle(() => now, { ...THROTTLING_OFF, tokenRequestsPerSecondPerApp: 2, tokenRequestsPerSecondPerTenant: 3 });
    expect(t.admitTokenRequest('a')).toBeNull();
    expect(t.admitTokenRequest('a')).toBeNull();
    expect(t.admitTokenRequest('a')).toEqual({ retryAfterSeconds: 1 });
    expect(t.admitTokenRequest('b')).toBeNull();
    // The tenant's 3 are used up: app b is refused too, although it asked once.
    expect(t.admitTokenRequest('b')).toEqual({ retryAfterSeconds: 1 });
    now += 1000;
    expect(t.admitTokenRequest('a')).toBeNull();
    expect(t.traffic()).toEqual([
      { at: 1_000_000_000, tokenRequests: 5, smtpSubmissions: 0, throttled: 2 },
      { at: 1_000_001_000, tokenRequests: 1, smtpSubmissions: 0, throttled: 0 },
    ]);
  });

  it('limits submissions per mailbox per minute with a transient 451 4.7.500', () => {
    let now = 0;
    const t = new TenantThrottle(() => now, { ...THROTTLING_OFF, smtpSubmissionsPerMinutePerMailbox: 1 });
    expect(t.admitSubmission('p@contoso.com')).toBeNull();
    const refused = t.admitSubmission('P@contoso.com');
    expect(refused?.responseCode).toBe(451);
    expect(refused?.enhancedCode).toBe('4.7.500');
    expect(t.admitSubmission('q@contoso.com')).toBeNull();
    now = 60_000;
    expect(t.admitSubmission('p@contoso.com')).toBeNull();
  });

  it('is off by default and refuses a bad policy without changing the one it has', () => {
    const t = new TenantThrottle(() => 0);
    for (let i = 0; i < 100; i++) expect(t.admitTokenRequest('a')).toBeNull();
    t.setPolicy({ tokenRequestsPerSecondPerApp: 5 });
    expect(() => t.setPolicy({ tokenRequestsPerSecondPerApp: 0 })).toThrow(/integer >= 1/);
    expect(() => t.setPolicy({ tokensPerSecond: 5 })).toThrow(/unknown field/);
    expect(() => checkThrottlePolicy('fast')).toThrow(/object/);
    expect(t.policy().tokenRequestsPerSecondPerApp).toBe(5);
  });
});

describe('the jitter seam', () => {
  it('spreads the retry delays of the device when set, never before Retry-After, and leaves them fixed when not', () => {
    const jitter = { fraction: 0.5, random: () => 0.5 };
    const send = () => new SendFailure({ category: 'other', transient: true, reply: '421 4.3.2 try later' });
    expect(sendFailedEvent(send(), 0, 1000)).toMatchObject({ retryAt: 1000 + 30_000 });
    expect(sendFailedEvent(send(), 0, 1000, jitter)).toMatchObject({ retryAt: 1000 + 22_500 });
    const throttled = new RefreshFailure({ transient: true, reason: 'throttled', reply: '429', retryAfterMs: 25_000 });
    expect(refreshFailedEvent(throttled, 0, 0, jitter)).toMatchObject({ retryAt: 25_000 });
  });
});

describe('storm input', () => {
  it('refuses bad options before anything starts', () => {
    const base: StormOptions = { devices: 3, event: 'outage', jitter: null, stateDir: '/nonexistent', seed: 1, concurrency: 1, throttling: THROTTLING_OFF };
    expect(() => checkStormOptions({ ...base, devices: 0 })).toThrow(/devices/);
    expect(() => checkStormOptions({ ...base, event: 'flood' as 'outage' })).toThrow(/event/);
    expect(() => checkStormOptions({ ...base, jitter: 1.5 })).toThrow(/jitter/);
    expect(() => checkStormOptions({ ...base, throttling: { ...THROTTLING_OFF, tokenRequestsPerSecondPerApp: -1 } })).toThrow(/integer/);
  });

  it('the CLI refuses an unknown event and a jitter outside 0…1', async () => {
    for (const args of [['--devices', '3', '--event', 'flood'], ['--devices', '3', '--event', 'outage', '--jitter', '2']]) {
      const cmd = stormCommand({ out: () => {} }).exitOverride().configureOutput({ writeErr: () => {} });
      await expect(cmd.parseAsync(args, { from: 'user' })).rejects.toThrow(/expected/);
    }
  });

  it('draws one line per run on the chart', () => {
    const svg = stormChartSvg([
      { label: 'no jitter', perSecond: [{ second: 0, tokenRequests: 3, smtpSubmissions: 1, throttled: 2 }] },
      { label: 'jitter <0.5>', perSecond: [{ second: 5, tokenRequests: 1, smtpSubmissions: 1, throttled: 0 }] },
    ]);
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).toContain('jitter &#60;0.5&#62;');
  });
});
