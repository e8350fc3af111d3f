/**
 * `mfp-sim fleet --shard i/N` and `mfp-sim fleet merge`, as separate processes (as pods of an Indexed Job would run
 * them): two shards of a small fleet merged must equal the same fleet run whole, and the merged percentiles must be
 * read from the shards' histograms added together. Bad inputs end with a clear message and exit code 1.
 * Functional only: nothing here is timed (the timeouts are guards for a loaded machine).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as hdr from 'hdr-histogram-js';
import { ensureCertificates } from '../../src/cloud/entra/certs.ts';
import { ensureSigningKey } from '../../src/cloud/entra/signing-key.ts';
import type { FleetReport } from '../../src/fleet/types.ts';

const CLI = fileURLToPath(new URL('../../bin/mfp-sim.mjs', import.meta.url));
/** Five printers in two shards (3 + 2, so the split's remainder is exercised). No day mails: only the morning one,
 *  which always needs a refresh after the night, so the refresh count does not hang on the seeded token lifetimes. */
const FLEET = ['--devices', '5', '--mails', '0', '--workers', '1', '--concurrency', '4'];

let work = '';
let cloudDir = '';
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'mfp-fleet-shard-'));
  cloudDir = path.join(work, 'cloud-template');
  await ensureCertificates(cloudDir);
  await ensureSigningKey(cloudDir);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const clean = { ...process.env };
  delete clean.JOB_COMPLETION_INDEX;
  delete clean.MFP_FLEET_SHARDS;
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...clean, ...env }, timeout: 240_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A fresh state dir with the twins' TLS material copied in (key generation is slow). */
async function stateDir(name: string): Promise<string> {
  const dir = path.join(work, name);
  await cp(cloudDir, path.join(dir, 'cloud'), { recursive: true });
  return dir;
}

const readReport = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as FleetReport;

describe('mfp-sim fleet --shard i/N and fleet merge', () => {
  const files = { whole: '', shard0: '', shard1: '', merged: '' };

  it('two shards run as separate processes merge into the totals of the unsharded run', { timeout: 300_000 }, async () => {
    files.whole = path.join(work, 'whole.json');
    files.shard0 = path.join(work, 'shard-0.json');
    files.shard1 = path.join(work, 'shard-1.json');
    files.merged = path.join(work, 'merged.json');
    const [whole, s0, s1] = await Promise.all([
      run(['fleet', ...FLEET, '--state-dir', await stateDir('whole'), '--report', files.whole]),
      run(['fleet', ...FLEET, '--state-dir', await stateDir('s0'), '--shard', '0/2', '--report', files.shard0]),
      // The second shard takes its index the way a pod of an Indexed Job does.
      run(['fleet', ...FLEET, '--state-dir', await stateDir('s1'), '--report', files.shard1], { JOB_COMPLETION_INDEX: '1', MFP_FLEET_SHARDS: '2' }),
    ]);
    for (const r of [whole, s0, s1]) expect(r.code, r.stderr).toBe(0);
    expect(s0.stdout).toContain('Shard 0/2 (printers 1…3 of 5) of 3 printers');
    expect(s1.stdout).toContain('Shard 1/2 (printers 4…5 of 5) of 2 printers');

    const [w, r0, r1] = await Promise.all([readReport(files.whole), readReport(files.shard0), readReport(files.shard1)]);
    expect(r0.shard).toEqual({ index: 0, count: 2, first: 0, devices: 3 });
    expect(r1.shard).toEqual({ index: 1, count: 2, first: 3, devices: 2 });
    expect(r0.rows.map((r) => r.id)).toEqual(['printer-0001', 'printer-0002', 'printer-0003']);
    expect(r1.rows.map((r) => r.id)).toEqual(['printer-0004', 'printer-0005']);

    const merge = await run(['fleet', 'merge', files.shard1, files.shard0, '--report', files.merged]);
    expect(merge.code, merge.stderr).toBe(0);
    expect(merge.stdout).toContain('Merged 2 shards: fleet of 5 printers');
    const m = await readReport(files.merged);

    // The merged fleet is the unsharded one: same printers, same totals, same end states.
    expect(m.rows.map((r) => r.id)).toEqual(w.rows.map((r) => r.id));
    expect(m.totals).toEqual(w.totals);
    expect(m.totals).toMatchObject({ mailsSent: 5, mailsExpected: 5, refreshes: 5, signIns: 5, failures: 0, errors: 0 });
    expect(m.states).toEqual(w.states);
    expect(m.ok).toBe(true);
    expect(m.mergedFrom).toEqual([r0.shard, r1.shard]);
    expect(m.mailLatency.count).toBe(w.mailLatency.count);

    // Percentiles come from the shards' histograms added together, not from their percentiles.
    const added = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
    added.add(hdr.decodeFromCompressedBase64(r0.mailLatency.histogram));
    added.add(hdr.decodeFromCompressedBase64(r1.mailLatency.histogram));
    expect(m.mailLatency.count).toBe(r0.mailLatency.count + r1.mailLatency.count);
    for (const [p, key] of [[50, 'p50'], [90, 'p90'], [99, 'p99']] as const) {
      expect(m.mailLatency[key]).toBe(Math.round(added.getValueAtPercentile(p)) / 1000);
    }
    expect(m.mailLatency.max).toBe(Math.max(r0.mailLatency.max, r1.mailLatency.max));
    expect(hdr.decodeFromCompressedBase64(m.mailLatency.histogram).totalCount).toBe(5);

    // Wall time is the slowest shard's; the CPU of the shards' processes adds up.
    for (const phase of Object.keys(w.phaseWallMs)) {
      expect(m.phaseWallMs[phase]).toBe(Math.max(r0.phaseWallMs[phase]!, r1.phaseWallMs[phase]!));
      expect(m.phaseCpuMs![phase]).toBe(r0.phaseCpuMs![phase]! + r1.phaseCpuMs![phase]!);
    }
    expect(m.phaseCpuMs!['sign-in']).toBeGreaterThan(0); // five printers signing in is work

    // A shard report from before CPU was measured still merges; the merge then claims no CPU figure.
    const { phaseCpuMs: _dropped, ...older } = r1;
    const olderFile = path.join(work, 'shard-1-older.json');
    await writeFile(olderFile, JSON.stringify(older));
    const mergedOlder = await run(['fleet', 'merge', files.shard0, olderFile, '--json']);
    expect(mergedOlder.code, mergedOlder.stderr).toBe(0);
    const mo = JSON.parse(mergedOlder.stdout) as FleetReport;
    expect(mo.totals).toEqual(w.totals);
    expect(mo.phaseCpuMs).toBeUndefined();
  });

  it('refuses bad input with a clear message and exit code 1', { timeout: 120_000 }, async () => {
    expect(files.shard0, 'needs the shard reports of the test above').not.toBe('');
    const bad = async (args: string[], message: RegExp, env: NodeJS.ProcessEnv = {}) => {
      const r = await run(args, env);
      expect(r.code, r.stdout).toBe(1);
      expect(r.stderr).toMatch(message);
    };
    const malformed = path.join(work, 'malformed.json');
    await writeFile(malformed, '{"options": ');
    const notReport = path.join(work, 'not-report.json');
    await writeFile(notReport, JSON.stringify({ rows: [] }));
    const otherFleet = path.join(work, 'other-fleet.json');
    await writeFile(otherFleet, JSON.stringify({ ...(await readReport(files.shard1)), options: { ...(await readReport(files.shard1)).options, seed: 99 } }));
    const brokenHistogram = path.join(work, 'broken-histogram.json');
    const r1 = await readReport(files.shard1);
    await writeFile(brokenHistogram, JSON.stringify({ ...r1, mailLatency: { ...r1.mailLatency, histogram: 'not base64!' } }));

    await Promise.all([
      bad(['fleet', 'merge', files.shard0, malformed], /malformed\.json: not JSON/),
      bad(['fleet', 'merge', files.shard0, notReport], /not-report\.json: not a fleet report/),
      bad(['fleet', 'merge', files.shard0, path.join(work, 'absent.json')], /absent\.json: cannot read \(ENOENT\)/),
      bad(['fleet', 'merge', files.shard0, files.shard0], /shard 0 given twice/),
      bad(['fleet', 'merge', files.shard0], /shard 1 of 2 missing/),
      bad(['fleet', 'merge', files.shard0, otherFleet], /other-fleet\.json is a shard of another fleet/),
      bad(['fleet', 'merge', files.shard0, brokenHistogram], /broken-histogram\.json: mailLatency\.histogram is not an encoded HDR histogram/),
      bad(['fleet', 'merge', files.shard0, files.whole], /whole\.json: a whole-fleet report/),
      bad(['fleet', ...FLEET, '--shard', '2/2'], /shard index 2 is out of range for 2 shards/),
      bad(['fleet', ...FLEET, '--shard', '0/6'], /shard count must be from 1 to the 5 devices/),
      bad(['fleet', ...FLEET, '--shard', 'one/two'], /--shard must be i\/N/),
      bad(['fleet', ...FLEET], /JOB_COMPLETION_INDEX is set but the shard count is not/, { JOB_COMPLETION_INDEX: '0' }),
      bad(['fleet', ...FLEET, '--shards', '2'], /JOB_COMPLETION_INDEX must be a whole number/, { JOB_COMPLETION_INDEX: '-1' }),
    ]);
  });
});
