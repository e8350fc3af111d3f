/**
 * `mfp-sim fleet` end to end, through fleetCommand(): real printers (own NVRAM file, identity and mailbox each)
 * signing in with the device code, mailing through the day over real loopback sockets, a night off and a morning
 * of refreshes, against embedded twins. Functional only: nothing here is timed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fleetCommand } from '../../src/fleet/cli.ts';
import { mailsPerPrinter } from '../../src/fleet/day.ts';
import { sumTraffic } from '../../src/fleet/run.ts';
import { ensureCertificates } from '../../src/cloud/entra/certs.ts';
import { ensureSigningKey } from '../../src/cloud/entra/signing-key.ts';
import type { FleetReport } from '../../src/fleet/types.ts';

const dirs: string[] = [];
/** The twins' TLS material and signing key, made once for the file and copied into each fleet (key generation is slow). */
let cloudDir = '';
beforeAll(async () => {
  cloudDir = await mkdtemp(path.join(tmpdir(), 'mfp-fleet-cloud-'));
  dirs.push(cloudDir);
  await ensureCertificates(cloudDir);
  await ensureSigningKey(cloudDir);
});
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function runCli(args: string[], opts: { serveUntil?: (url: string) => Promise<void> } = {}): Promise<{ report: FleetReport; output: string; stateDir: string }> {
  const stateDir = await mkdtemp(path.join(tmpdir(), 'mfp-fleet-test-'));
  dirs.push(stateDir);
  await cp(cloudDir, path.join(stateDir, 'cloud'), { recursive: true });
  let report: FleetReport | undefined;
  const output: string[] = [];
  await fleetCommand({ out: (s) => output.push(s), progressBar: false, onReport: (r) => (report = r), serveUntil: opts.serveUntil })
    .exitOverride()
    .parseAsync([...args, '--state-dir', stateDir], { from: 'user' });
  if (!report) throw new Error('the fleet command reported nothing');
  return { report, output: output.join('\n'), stateDir };
}

describe('mfp-sim fleet', () => {
  // Wall-time guards for slow machines, not assertions: the runs usually take a fraction of this.
  it('--devices 50: every printer ends authorized, with its mails in its own mailbox in the twin', { timeout: 120_000 }, async () => {
    const mails = 2;
    const { report, output, stateDir } = await runCli(['--devices', '50', '--mails', String(mails)]);
    const perPrinter = mailsPerPrinter(mails);

    expect(report.rows).toHaveLength(50);
    expect(new Set(report.rows.map((r) => r.deviceId)).size).toBe(50);
    expect(new Set(report.rows.map((r) => r.serial)).size).toBe(50);
    for (const row of report.rows) {
      expect(row, row.id).toMatchObject({ state: 'authorized', signIns: 1, mailsSent: perPrinter, mailsFailed: 0, mailsHeld: 0, failures: 0, errors: [] });
      expect(row.mailbox, row.id).toEqual({ sentItems: perPrinter, inbox: perPrinter, messageIdsMatch: true });
      expect(row.upn).toBe(`${row.id}@contoso.com`);
      // The night killed every access token: the morning mail needed a refresh.
      expect(row.refreshes, row.id).toBeGreaterThanOrEqual(1);
    }
    expect(report.states).toEqual({ authorized: 50 });
    expect(report.totals).toMatchObject({ mailsSent: 50 * perPrinter, mailsExpected: 50 * perPrinter, failures: 0, errors: 0, signIns: 50 });
    expect(report.ok).toBe(true);
    expect(report.simulatedMs).toBe(24 * 3_600_000);
    expect(report.memory.heapPerDevice).toBeGreaterThan(0);

    // One NVRAM file per printer, and no token text in any of them (the cache is sealed).
    const printers = await readdir(path.join(stateDir, 'devices'));
    expect(printers).toHaveLength(50);
    const image = await readFile(path.join(stateDir, 'devices', 'printer-0001', 'nvram.json'), 'utf8');
    expect(image).not.toMatch(/eyJ[\w-]{10,}\.[\w-]{10,}/);

    expect(output).toContain('Fleet of 50 printers');
    expect(output).toContain('authorized 50');
    expect(output).toMatch(/Mails: +150 sent of 150/);

    // The day phase against the bare limit timed before and after the run on this machine: 50 printers × 2 day mails.
    expect(report.limit).toBeDefined();
    const limit = report.limit!;
    expect(limit).toMatchObject({ dayMails: 100, bareMails: 200, dayWallMs: report.phaseWallMs.day });
    expect(limit.bareBeforeMsPerMail).toBeGreaterThan(0);
    expect(limit.bareAfterMsPerMail).toBeGreaterThan(0);
    expect(limit.bareMsPerMail).toBeCloseTo((limit.bareBeforeMsPerMail + limit.bareAfterMsPerMail) / 2, 6);
    expect(limit.limitMs).toBeCloseTo((100 * limit.bareMsPerMail) / limit.cores, 6);
    expect(limit.ratio).toBeCloseTo(limit.dayWallMs / limit.limitMs, 6);
    // CPU beside the wall times: every phase measured, the day's per mail, the bare mails' too (both did work).
    expect(Object.keys(report.phaseCpuMs!)).toEqual(Object.keys(report.phaseWallMs));
    expect(limit.dayCpuMsPerMail).toBeCloseTo(report.phaseCpuMs!.day! / 100, 6);
    expect(limit.dayCpuMsPerMail).toBeGreaterThan(0);
    expect(limit.bareCpuMsPerMail).toBeGreaterThan(0);
    expect(output).toMatch(/CPU per mail: +day [\d.]+ ms, bare [\d.]+ ms \(user \+ system, every thread of the process\)/);
    expect(output).toMatch(/Day vs limit: +[\d.]+ s for 100 mails; limit 100 × [\d.]+ ms bare \(the mean of 200 timed: [\d.]+ ms before the run, [\d.]+ ms after it\) ÷ \d+ cores = [\d.]+ s; [\d.]+× \(target ≤ 1\.5×\)/);
  });

  it('--workers 2 splits the printers over two worker threads, each with its own twin, and serves the fleet page', { timeout: 120_000 }, async () => {
    const pages: Record<string, { status: number; body: string }> = {};
    const { report } = await runCli(['--devices', '6', '--workers', '2', '--mails', '1', '--serve', '--port', '0', '--no-limit'], {
      serveUntil: async (url) => {
        const origin = new URL(url).origin;
        for (const p of ['/fleet', '/fleet/api/devices', '/fleet/devices/printer-0004', '/fleet/api/devices/printer-0004', '/fleet/devices/printer-9999']) {
          const res = await fetch(origin + p);
          pages[p] = { status: res.status, body: await res.text() };
        }
      },
    });
    expect(report.ok).toBe(true);
    expect(report.rows.map((r) => r.slice)).toEqual([0, 0, 0, 1, 1, 1]);
    expect(report.limit).toBeUndefined(); // --no-limit
    expect(report.rows.every((r) => r.state === 'authorized' && r.mailsSent === 2)).toBe(true);

    expect(pages['/fleet']!.status).toBe(200);
    expect(pages['/fleet']!.body).toContain('href="/fleet/devices/printer-0006"');
    // The chart of requests/s over simulated time, both slices' twins summed, drawn on the server.
    expect(pages['/fleet']!.body).toMatch(/Requests per second at the twins[\s\S]*<svg[^>]*aria-label="Requests per second at the twins over simulated time"[\s\S]*<polyline/);
    expect(pages['/fleet']!.body).toMatch(/h of simulated time<\/text>/);
    const list = JSON.parse(pages['/fleet/api/devices']!.body);
    expect(list).toMatchObject({ devices: 6, running: false, phase: 'check' });
    expect(list.items.map((i: { state: string }) => i.state)).toEqual(Array(6).fill('authorized'));
    expect(pages['/fleet/devices/printer-0004']!.body).toContain('printer-0004@contoso.com');
    expect(JSON.parse(pages['/fleet/api/devices/printer-0004']!.body)).toMatchObject({ id: 'printer-0004', slice: 1, state: 'authorized' });
    expect(pages['/fleet/devices/printer-9999']!.status).toBe(404);
    // Nothing secret on the page: no JWT, no password field.
    for (const p of Object.values(pages)) expect(p.body).not.toMatch(/eyJ[\w-]{10,}\.|password/i);
  });

  it('sums the slices\' traffic per virtual second for the page', () => {
    const t = (at: number, tokenRequests: number, smtpSubmissions = 0, throttled = 0) => ({ at, tokenRequests, smtpSubmissions, throttled });
    expect(sumTraffic([[t(2000, 1, 1), t(1000, 2)], [t(1000, 3, 0, 1)], []])).toEqual([t(1000, 5, 0, 1), t(2000, 1, 1)]);
  });

  it('refuses a state directory that holds an earlier fleet', async () => {
    const stateDir = await mkdtemp(path.join(tmpdir(), 'mfp-fleet-test-'));
    dirs.push(stateDir);
    await mkdir(path.join(stateDir, 'devices', 'printer-0001'), { recursive: true });
    await expect(
      fleetCommand({ out: () => {}, progressBar: false }).exitOverride().parseAsync(['--devices', '1', '--state-dir', stateDir], { from: 'user' }),
    ).rejects.toThrow(/earlier fleet/);
    // Refused before the bare mails are timed: no twin certificates were made in the earlier fleet's directory.
    expect(await readdir(stateDir)).toEqual(['devices']);
  });
});
