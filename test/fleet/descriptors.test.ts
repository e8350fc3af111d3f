/**
 * A fleet needs file descriptors for what is in flight, not for every printer: idle printers hold no NVRAM image
 * open and no keep-alive connection to Entra (src/nvram/io.ts, src/adapters/msal/networkClient.ts). Run as a child
 * process under `ulimit -n` lower than the printers plus what the process itself holds, so a printer that keeps one
 * descriptor while idle runs the fleet into EMFILE. And when a limit is hit, the report names it as the process's.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { processLimitHit } from '../../src/fleet/processLimit.ts';
import { formatSummary } from '../../src/fleet/summary.ts';
import type { FleetReport } from '../../src/fleet/types.ts';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../../bin/mfp-sim.mjs', import.meta.url));
const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

/** Fewer descriptors than printers: only printers that hold none while idle fit (with room for Node's module loading at start). */
const PRINTERS = 200;
const OPEN_FILES = 192;
/** Wall-time guard for a loaded machine, not an assertion: the child is killed past it and the test fails. */
const GUARD_MS = 600_000;

describe('fleet file descriptors', () => {
  it(`${PRINTERS} printers run through the day under ulimit -n ${OPEN_FILES}`, { timeout: GUARD_MS + 30_000 }, async () => {
    const stateDir = await mkdtemp(path.join(tmpdir(), 'mfp-fleet-fds-'));
    dirs.push(stateDir);
    const args = ['fleet', '--devices', String(PRINTERS), '--mails', '1', '--workers', '1', '--concurrency', '6', '--no-limit', '--json', '--state-dir', stateDir];
    const { stdout, stderr } = await run('bash', ['-c', `ulimit -n ${OPEN_FILES} && exec "$0" "$@"`, process.execPath, CLI, ...args], { maxBuffer: 64 * 1024 * 1024, timeout: GUARD_MS }).catch(
      (err: { stdout?: string; stderr?: string; message?: string }) => ({ stdout: err.stdout ?? '', stderr: `${err.message ?? ''}\n${err.stderr ?? ''}` }),
    );
    expect(stdout, stderr.slice(0, 2000)).not.toBe('');
    const report = JSON.parse(stdout) as FleetReport;
    const problems = report.rows.filter((r) => r.errors.length > 0).map((r) => `${r.id}: ${r.errors[0]}`);
    expect(problems.slice(0, 3)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.totals.mailsSent).toBe(report.totals.mailsExpected);
  });

  it('an EMFILE or ENFILE is named as a limit of the process or the host, in the row and in the summary', () => {
    const emfile = "spool write failed (spool-write-failed): EMFILE: too many open files, open '/x/spool'";
    expect(processLimitHit(emfile)).toMatch(/^the fleet process ran out of file descriptors \(EMFILE\): raise `ulimit -n`/);
    expect(processLimitHit('ENFILE: file table overflow')).toMatch(/^the host ran out of file descriptors \(ENFILE\)/);
    expect(processLimitHit('no user code (state authFailed, network ECONNREFUSED)')).toBeNull();
    const row = { id: 'printer-0001', state: 'authorized', errors: [`${processLimitHit(emfile)} (${emfile})`], failures: 0, lastError: null };
    const report = {
      rows: [row, { ...row, id: 'printer-0002', errors: [] }],
      states: { authorized: 2 },
      phaseWallMs: {},
      options: { workers: 1, seed: 7, stateDir: '/x', devices: 2 },
      totals: { mailsSent: 0, mailsExpected: 2, signIns: 2, refreshes: 0, failures: 0, errors: 1 },
      ok: false,
      simulatedMs: 0,
      wallMs: 0,
      mailLatency: { p50: 0, p90: 0, p99: 0, max: 0, count: 0 },
      memory: { rssBefore: 0, rssPeak: 0, rssPerDevice: 0, heapPerDevice: 0 },
    } as unknown as FleetReport;
    expect(formatSummary(report)).toContain('! 1 printer(s) failed on a limit of the process, not of the device: the fleet process ran out of file descriptors (EMFILE)');
  });
});
