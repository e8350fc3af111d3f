/**
 * A fleet-wide storm: a whole site of printers against ONE twin (one tenant's state, one throttle, one clock), a
 * scripted site event, and what the tenant saw — requests per virtual second, throttled requests, how long until 99%
 * of the fleet is healthy again, how many mails were delayed and whether any was lost. Run with and without the
 * device's retry jitter to compare (docs/scaling.md, "Storms").
 *
 * Events (virtual time; the VirtualClock starts Monday 08:00 UTC, when every printer signs in):
 *  - outage: the site loses power at 18:00 and comes back Tuesday 08:00; every printer boots at once with an expired
 *    access token and scans one page: a wave of refreshes at the token endpoint.
 *  - revoke: Tuesday 08:00 the admin revokes every printer's sessions while they run (their access tokens have
 *    expired overnight: the printers stayed on); each scans one page, its refresh is refused (invalid_grant), and the
 *    admin signs every printer in again at once — a wave of device-code sign-ins.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import type { LeafState } from '../device/printer.ts';
import { PayloadBuffers, startSimulator, type Simulator } from '../sim/simulator.ts';
import { startTwin, type Twin } from '../cloud/twin.ts';
import { ensureCertificates } from '../cloud/entra/certs.ts';
import { ensureSigningKey } from '../cloud/entra/signing-key.ts';
import { DEFAULT_TENANT_FILE } from '../cloud/tenant-fixture.ts';
import { checkThrottlePolicy, type ThrottlePolicy, type TrafficSecond } from '../cloud/throttling.ts';
import { VirtualClock } from '../time/clock.ts';
import { TrustContextCache } from '../adapters/tls/deviceTls.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import { DeviceClock } from './deviceClock.ts';
import { forEachLimited } from './limit.ts';
import { HOUR, printerId, printerSettings, printerUpn } from './day.ts';
import { fleetPaths, SCAN_PDF } from './slice.ts';

export const STORM_EVENTS = ['outage', 'revoke'] as const;
export type StormEvent = (typeof STORM_EVENTS)[number];

export interface StormOptions {
  devices: number;
  event: StormEvent;
  /** Retry jitter fraction of every printer (null: off); each printer's generator is seeded from `seed` and its index. */
  jitter: number | null;
  /** Empty directory for the printers' NVRAM, the twin's TLS material and the tenant file. */
  stateDir: string;
  seed: number;
  /** Printers driven at once (wall time only: virtual time stands still while they boot). */
  concurrency: number;
  /** The tenant's throttling during the storm (off while the fleet signs in the day before). */
  throttling: ThrottlePolicy;
  /** Virtual time watched after the event (default 30 minutes). */
  watchMs?: number;
}

export interface StormReport {
  options: StormOptions;
  /** Virtual time of the event (ISO). */
  eventAt: string;
  /** Token requests + SMTP submissions in the busiest virtual second after the event. */
  peakRequestsPerSecond: number;
  /** The same, not counting the event's own second (the wave every printer makes at once, jitter or not). */
  peakRetryRequestsPerSecond: number;
  tokenRequests: number;
  smtpSubmissions: number;
  /** Requests the throttle answered 429 or 451 4.7.500. */
  throttled: number;
  /** Virtual ms from the event until 99% of the printers were healthy (mail sent, authorized); null: never. */
  msTo99PercentHealthy: number | null;
  /** Printers healthy at the end of the watch. */
  healthy: number;
  mailsExpected: number;
  mailsSent: number;
  /** Mails sent later than the event's own second. */
  mailsDelayed: number;
  /** Mails not found in their mailbox (Sent Items and Inbox, by Message-ID) at the end of the watch: not delivered. */
  mailsLost: number;
  /** Every printer healthy and no mail lost. */
  recovered: boolean;
  /** Traffic per virtual second from the event on, relative seconds (0 = the event's second). */
  perSecond: Array<Omit<TrafficSecond, 'at'> & { second: number }>;
  /** The chart of requests per second (server-drawn SVG). */
  chartSvg: string;
  wallMs: number;
}

interface StormPrinter {
  index: number;
  upn: string;
  dir: string;
  clock: DeviceClock;
  sim: Simulator | null;
  messageId: string | null;
  sentAt: number | null;
}

/** The states a printer can be signed in from (START_AUTH): those the admin's round acts on. */
const SIGN_IN_STATES = new Set(['ready', 'authFailed', 'reauthRequired']);
/** The storm tenant's device-code interval (wall time: msal-node polls on it). */
const WALL_POLL_INTERVAL_S = 0.1;
/** Polling runs on wall time (msal-node); a sign-in that takes longer than this is reported, not waited for. */
const SIGN_IN_WALL_LIMIT_MS = 180_000;
const DEFAULT_WATCH_MS = 30 * 60_000;

export function checkStormOptions(o: StormOptions): StormOptions {
  if (!Number.isSafeInteger(o.devices) || o.devices < 1 || o.devices > 99999) throw new RangeError(`devices must be an integer from 1 to 99999, got ${o.devices}`);
  if (!STORM_EVENTS.includes(o.event)) throw new RangeError(`event must be one of ${STORM_EVENTS.join(', ')}, got ${String(o.event)}`);
  if (o.jitter !== null && (!Number.isFinite(o.jitter) || o.jitter < 0 || o.jitter > 1)) throw new RangeError(`jitter must be within 0…1, got ${o.jitter}`);
  if (!Number.isSafeInteger(o.concurrency) || o.concurrency < 1) throw new RangeError(`concurrency must be an integer >= 1, got ${o.concurrency}`);
  const watch = o.watchMs ?? DEFAULT_WATCH_MS;
  if (!Number.isFinite(watch) || watch < 60_000 || watch > 24 * HOUR) throw new RangeError(`watchMs must be from one minute to a day, got ${watch}`);
  return { ...o, throttling: checkThrottlePolicy(o.throttling), watchMs: watch };
}

export async function runStorm(input: StormOptions): Promise<StormReport> {
  const o = checkStormOptions(input);
  const wallStart = performance.now();
  const paths = fleetPaths(o.stateDir);
  if ((await readdir(paths.devicesDir).catch(() => [] as string[])).length > 0) throw new Error(`${paths.devicesDir} holds printers of an earlier run; use an empty state directory`);
  await mkdir(paths.devicesDir, { recursive: true });
  await ensureCertificates(paths.cloudDir);
  await ensureSigningKey(paths.cloudDir);
  const tenant = JSON.parse(await readFile(DEFAULT_TENANT_FILE, 'utf8')) as { deviceCode: { intervalSeconds: number } };
  // msal-node polls on wall time: each 0.1 s of wall stands for the real interval, and while printers poll the
  // tenant's virtual time moves at that rate (waitSignedIn), so a throttle window passes as it would for real polls.
  const wallPerVirtualSecondMs = (WALL_POLL_INTERVAL_S / tenant.deviceCode.intervalSeconds) * 1000;
  tenant.deviceCode.intervalSeconds = WALL_POLL_INTERVAL_S;
  await writeFile(paths.tenantFile, JSON.stringify(tenant, null, 2));

  const clock = new VirtualClock();
  const start = clock.now();
  const logStream = pino.destination({ dest: path.join(paths.logsDir, 'storm.log'), mkdir: true, sync: true });
  const logger: Logger = createLogger({ name: 'fleet-storm', level: 'warn', destination: logStream });
  const twin = await startTwin({ stateDir: paths.cloudDir, clock, tenantFile: paths.tenantFile, seed: o.seed, logger, smtpGreetingDelayMs: 0 });
  const printers: StormPrinter[] = [];
  const dirty = new Set<StormPrinter>();
  // One TLS context per trust store content for the whole site (each printer keeps its own store and check).
  const tlsContexts = new TrustContextCache();
  // Spare NVRAM payload buffers for the whole site (each printer keeps its own last payload): about one per commit in flight.
  const payloadBuffers = new PayloadBuffers(o.concurrency);
  try {
    for (let i = 0; i < o.devices; i++) {
      const upn = printerUpn(i);
      // Test data: nobody signs in with it (approvals go through the control API); never printed.
      twin.control.addUser({ upn, displayName: `Printer ${i + 1}`, password: randomBytes(12).toString('base64url'), mfa: 'none', smtpAuthEnabled: true });
      const p: StormPrinter = { index: i, upn, dir: path.join(paths.devicesDir, printerId(i)), clock: null as unknown as DeviceClock, sim: null, messageId: null, sentAt: null };
      p.clock = new DeviceClock(clock, () => dirty.add(p));
      printers.push(p);
    }
    const each = (fn: (p: StormPrinter) => Promise<void>) => forEachLimited(printers, o.concurrency, fn);
    const settle = async () => {
      while (dirty.size > 0) {
        const woken = [...dirty];
        dirty.clear();
        await Promise.all(woken.map((p) => p.sim?.printer.idle()));
      }
    };
    const idleAll = async () => {
      await Promise.all(printers.map((p) => p.sim?.printer.idle()));
      await settle();
    };
    // Work in flight finishes at the current virtual instant before time moves (its sockets run on wall time).
    const advanceTo = async (at: number) => {
      await idleAll();
      if (at > clock.now()) await clock.advanceTo(at, settle);
      await idleAll();
    };
    const powerOn = async (p: StormPrinter) => {
      p.sim = await startSimulator({
        stateDir: p.dir,
        clock: p.clock,
        cloud: { mode: 'twin' },
        twin,
        tlsContexts,
        payloadBuffers,
        logger,
        retryJitter: o.jitter === null ? null : { fraction: o.jitter, seed: o.seed * 100_003 + p.index },
      });
      p.sim.printer.subscribe((t) => {
        if (t.event === 'SENT' && p.sentAt === null) p.sentAt = clock.now();
      });
    };
    const powerOff = async (p: StormPrinter) => {
      const sim = p.sim;
      p.sim = null;
      dirty.delete(p);
      await sim?.close();
    };
    const signIn = async (p: StormPrinter) => {
      const printer = p.sim!.printer;
      await printer.send({ type: 'START_AUTH' });
      await printer.idle();
      const status = await printer.status();
      if (status.state !== 'codePending' || !status.userCode) throw new Error(`${p.upn}: no user code (state ${status.state})`);
      const approval = twin.control.approveDeviceCode(status.userCode, p.upn);
      if (approval.state !== 'approved') throw new Error(`${p.upn}: approval refused (${approval.state})`);
    };
    const waitSignedIn = async () => {
      const deadline = Date.now() + SIGN_IN_WALL_LIMIT_MS;
      const signingIn = async () => (await statesOf(printers.filter((p) => p.sim))).some((s) => s === 'requestingCode' || s === 'codePending');
      while (Date.now() < deadline && (await signingIn())) {
        await new Promise((r) => setTimeout(r, wallPerVirtualSecondMs));
        await clock.advanceTo(clock.now() + 1000, settle);
      }
      await advanceTo(clock.now());
    };
    const scan = async (p: StormPrinter) => {
      const job = await p.sim!.printer.submitJob({
        to: [p.upn],
        subject: `${printerId(p.index)} storm scan`,
        body: 'Scanned document attached.',
        attachments: [{ filename: 'scan-0001.pdf', contentType: 'application/pdf', path: SCAN_PDF }],
      });
      p.messageId = job.messageId;
    };

    // Monday 08:00: the site is set up, every printer signed in (no throttling: this is not the storm).
    await each(powerOn);
    await each(async (p) => {
      await p.sim!.printer.saveSettings(printerSettings(p.upn));
      await signIn(p);
    });
    await waitSignedIn();
    const before = await statesOf(printers);
    const notSignedIn = printers.filter((_p, i) => before[i] !== 'authorized');
    if (notSignedIn.length) throw new Error(`${notSignedIn.length} printer(s) did not sign in before the storm (first: ${notSignedIn[0]!.upn}, ${before[printers.indexOf(notSignedIn[0]!)]})`);

    const eventAt = start + 24 * HOUR;
    if (o.event === 'outage') {
      await advanceTo(start + 10 * HOUR);
      await each(powerOff);
      await advanceTo(eventAt);
      twin.throttle.setPolicy(o.throttling);
      twin.throttle.resetTraffic();
      // Power is back: every printer boots and scans in the same virtual instant.
      await each(async (p) => {
        await powerOn(p);
        await scan(p);
      });
    } else {
      await advanceTo(eventAt);
      twin.throttle.setPolicy(o.throttling);
      twin.throttle.resetTraffic();
      for (const p of printers) twin.control.revokeSessions(p.upn);
      await each(scan);
      await advanceTo(clock.now());
      // The admin walks the site (the control API) once a minute through the watch: every printer the revocation
      // sent back to sign-in is signed in again, all at once; its held mail goes once it has a token. A printer whose
      // refresh was throttled learns of the revocation only at its retry (30 s, 2 min, 8 min later): a later round.
      while (clock.now() < eventAt + o.watchMs!) {
        const states = await statesOf(printers);
        if (states.every((s) => s === 'authorized')) break;
        const left = printers.filter((_p, i) => SIGN_IN_STATES.has(states[i]!));
        await forEachLimited(left, o.concurrency, (p) =>
          signIn(p).catch((err: Error) => logger.warn({ upn: p.upn, err: err.message }, 'storm: re-sign-in failed')),
        );
        await waitSignedIn();
        await advanceTo(clock.now() + 60_000);
      }
    }
    await advanceTo(eventAt + o.watchMs!);

    return report(o, twin, printers, await statesOf(printers), eventAt, performance.now() - wallStart);
  } finally {
    await forEachLimited(printers, o.concurrency, async (p) => {
      const sim = p.sim;
      p.sim = null;
      await sim?.close().catch(() => undefined);
    });
    await twin.close();
    logStream.flushSync();
  }
}

/** Each printer's state through the printer interface, in order (null: powered off). */
function statesOf(printers: StormPrinter[]): Promise<(LeafState | null)[]> {
  return Promise.all(printers.map(async (p) => (p.sim ? (await p.sim.printer.status()).state : null)));
}

function report(o: StormOptions, twin: Twin, printers: StormPrinter[], states: (LeafState | null)[], eventAt: number, wallMs: number): StormReport {
  const traffic = twin.throttle.traffic().filter((s) => s.at >= Math.floor(eventAt / 1000) * 1000);
  const perSecond = traffic.map(({ at, ...rest }) => ({ second: Math.round((at - eventAt) / 1000), ...rest }));
  const load = (s: { tokenRequests: number; smtpSubmissions: number }) => s.tokenRequests + s.smtpSubmissions;
  const healthyTimes = printers
    .filter((p, i) => p.sentAt !== null && states[i] === 'authorized')
    .map((p) => p.sentAt! - eventAt)
    .sort((a, b) => a - b);
  const need = Math.ceil(printers.length * 0.99);
  let lost = 0;
  for (const p of printers) {
    const found = p.messageId ? twin.control.messages(p.upn).filter((m) => m.messageId === p.messageId) : [];
    const filed = new Set(found.map((m) => m.folder));
    if (!filed.has('SentItems') || !filed.has('Inbox')) lost++;
  }
  const sent = printers.filter((p) => p.sentAt !== null);
  const r: StormReport = {
    options: o,
    eventAt: new Date(eventAt).toISOString(),
    peakRequestsPerSecond: Math.max(0, ...perSecond.map(load)),
    peakRetryRequestsPerSecond: Math.max(0, ...perSecond.filter((s) => s.second > 0).map(load)),
    tokenRequests: perSecond.reduce((n, s) => n + s.tokenRequests, 0),
    smtpSubmissions: perSecond.reduce((n, s) => n + s.smtpSubmissions, 0),
    throttled: perSecond.reduce((n, s) => n + s.throttled, 0),
    msTo99PercentHealthy: healthyTimes.length >= need ? healthyTimes[need - 1]! : null,
    healthy: healthyTimes.length,
    mailsExpected: printers.length,
    mailsSent: sent.length,
    mailsDelayed: sent.filter((p) => p.sentAt! - eventAt >= 1000).length,
    mailsLost: lost,
    recovered: healthyTimes.length === printers.length && lost === 0,
    perSecond,
    chartSvg: '',
    wallMs: Math.round(wallMs),
  };
  r.chartSvg = stormChartSvg([{ label: o.jitter === null ? 'no jitter' : `jitter ${o.jitter}`, perSecond }]);
  return r;
}

/**
 * Requests per virtual second (token + SMTP), one line per run, drawn on the server: no script, no chart library to
 * serve. Axes in seconds (after the storm's event by default; `xLabel` names the axis end, the fleet page passes
 * simulated time) and requests per second.
 */
export function stormChartSvg(series: Array<{ label: string; perSecond: StormReport['perSecond'] }>, opts: { xLabel?: (maxSecond: number) => string; ariaLabel?: string } = {}): string {
  const W = 640, H = 240, L = 48, R = 12, T = 16, B = 32;
  const colours = ['#c0392b', '#2471a3', '#229954', '#7d3c98'];
  const maxX = Math.max(60, ...series.flatMap((s) => s.perSecond.map((p) => p.second)));
  const maxY = Math.max(1, ...series.flatMap((s) => s.perSecond.map((p) => p.tokenRequests + p.smtpSubmissions)));
  const x = (sec: number) => L + (sec / maxX) * (W - L - R);
  const y = (v: number) => H - B - (v / maxY) * (H - T - B);
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const lines = series.map((s, i) => {
    // Seconds with no traffic are zeros: draw them, or a quiet minute would look like a ramp.
    const pts: string[] = [];
    const bySecond = new Map(s.perSecond.map((p) => [p.second, p.tokenRequests + p.smtpSubmissions]));
    const seconds = [...bySecond.keys()].sort((a, b) => a - b);
    let last = -2;
    for (const sec of seconds) {
      if (sec > last + 1) pts.push(`${x(last + 1).toFixed(1)},${y(0).toFixed(1)}`, `${x(sec - 1).toFixed(1)},${y(0).toFixed(1)}`);
      pts.push(`${x(sec).toFixed(1)},${y(bySecond.get(sec)!).toFixed(1)}`);
      last = sec;
    }
    pts.push(`${x(last + 1).toFixed(1)},${y(0).toFixed(1)}`, `${x(maxX).toFixed(1)},${y(0).toFixed(1)}`);
    const colour = colours[i % colours.length];
    return `<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${pts.join(' ')}"/><text x="${W - R - 4}" y="${T + 14 * (i + 1)}" text-anchor="end" fill="${colour}" font-size="12">${esc(s.label)}</text>`;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(opts.ariaLabel ?? 'Requests per second at the twin after the event')}">`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#555"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#555"/>`,
    `<text x="${L - 6}" y="${T + 4}" text-anchor="end" font-size="11">${maxY}</text><text x="${L - 6}" y="${H - B}" text-anchor="end" font-size="11">0</text>`,
    `<text x="${L}" y="${H - 8}" font-size="11">0 s</text><text x="${W - R}" y="${H - 8}" text-anchor="end" font-size="11">${esc(opts.xLabel?.(maxX) ?? `${maxX} s after the event`)}</text>`,
    `<text x="12" y="${(H - B + T) / 2}" font-size="11" transform="rotate(-90 12 ${(H - B + T) / 2})" text-anchor="middle">requests/s</text>`,
    ...lines,
    '</svg>',
  ].join('');
}
