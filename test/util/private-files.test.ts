/**
 * Nothing under a printer's state directory is for other local users (mail content, logs, keys): directories 0700,
 * files 0600, whatever the umask. Runs `mfp-sim start` as users do, under umask 000, then a scan through the
 * simulator in-process with umask 000 (spool files exist only while a job is pending).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startE2E, signIn, submitScan, type E2ESim } from '../e2e/support.ts';

async function walk(dir: string): Promise<{ file: string; mode: number; isDir: boolean }[]> {
  const out: { file: string; mode: number; isDir: boolean }[] = [];
  const st = await stat(dir);
  out.push({ file: dir, mode: st.mode & 0o777, isDir: true });
  for (const name of await readdir(dir)) {
    const p = path.join(dir, name);
    const s = await stat(p);
    if (s.isDirectory()) out.push(...(await walk(p)));
    else out.push({ file: p, mode: s.mode & 0o777, isDir: false });
  }
  return out;
}
const open = (entries: { file: string; mode: number }[]) => entries.filter((e) => (e.mode & 0o077) !== 0).map((e) => `${e.file} ${e.mode.toString(8)}`);

let dir: string | undefined;
let sim: E2ESim | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('state directory permissions', () => {
  it('mfp-sim start under umask 000: every file and directory it creates is private', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mfp-perm-'));
    const state = path.join(dir, 'var');
    const child = spawn('sh', ['-c', `umask 000; exec node bin/mfp-sim.mjs start --state-dir "${state}" --port 0 --entra-port 0 --smtp-port 0 --clock virtual`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, MFP_ADMIN_PASSWORD: 'Perm-Test-Pass-1' },
    });
    try {
      await new Promise<void>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`no banner: ${out}`)), 60_000);
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString();
          if (out.includes('Log:')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      const entries = await walk(state);
      expect(entries.map((e) => path.basename(e.file))).toEqual(expect.arrayContaining(['nvram.json', 'mfp-sim.log', 'rtc.json']));
      expect(open(entries)).toEqual([]);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('spool content of a pending job is private (in-process simulator, umask 000)', async () => {
    const old = process.umask(0);
    try {
      sim = await startE2E();
      await signIn(sim);
      // 432 keeps the job pending (retry on the clock), so its content stays in the spool.
      sim.twin!.faults.add({ target: 'smtp.auth', action: { kind: 'reply', reply: '432 4.3.2 Concurrent connections limit exceeded.' } });
      await submitScan(sim);
      await sim.device.idle();
      expect(sim.device.state()).toBe('sendFailure');
      // tenant.json is the test harness's own fixture copy, written by the test before the simulator started.
      const entries = (await walk(sim.dir)).filter((e) => path.basename(e.file) !== 'tenant.json');
      expect(entries.some((e) => e.file.includes(`${path.sep}spool${path.sep}`))).toBe(true);
      expect(open(entries)).toEqual([]);
    } finally {
      process.umask(old);
    }
  });
});
