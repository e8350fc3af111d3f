/**
 * `npm run bench:twin` in a bounded form: the twin and then the bare servers started as processes of their own, each
 * load driven for a second against each, and every request served. What it measures is not asserted (no timed assertions); that it measures is.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('bench:twin', () => {
  it('serves every load it drives, from the twin and from the bare servers each in a process of its own, and reports their CPU per request', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['bin/run-ts.mjs', 'bench/twinCapacity.ts'], {
      cwd: ROOT,
      env: { ...process.env, TWIN_BENCH_SECONDS: '1', TWIN_BENCH_CONCURRENCY: '2' },
      timeout: 60_000,
    });
    const rows = stdout.split('\n').filter((l) => /^\| (token requests|mail submissions)/.test(l));
    expect(rows.map((r) => r.split('|')[1]!.trim())).toEqual([
      'token requests, keep-alive connections',
      'token requests, a fresh TLS connection each',
      'mail submissions (STARTTLS, XOAUTH2, a fresh connection each)',
    ]);
    for (const row of rows) {
      const [, , twinServed, twinCpu, , , bareServed, bareCpu, ratio, failures] = row.split('|').map((c) => c.trim());
      expect(Number(twinServed)).toBeGreaterThan(0);
      expect(Number(bareServed)).toBeGreaterThan(0);
      expect(failures).toBe('0, 0');
      // /proc is Linux's: elsewhere the servers' CPU is not known and says so.
      if (process.platform === 'linux') {
        expect(Number.parseFloat(twinCpu!)).toBeGreaterThan(0);
        expect(Number.parseFloat(bareCpu!)).toBeGreaterThan(0);
        expect(ratio).toMatch(/^\d+\.\d\d×$/);
      } else {
        expect([twinCpu, bareCpu, ratio]).toEqual(['n/a', 'n/a', 'n/a']);
      }
    }
    expect(stdout).toMatch(/^Machine: .*load average/m);
  }, 90_000);
});
