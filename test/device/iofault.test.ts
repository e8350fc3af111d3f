/**
 * The I/O-fault sweep (SQLite's I/O-error tests, at device level): a whole scenario — first boot, settings, sign-in,
 * a send, an hour with a refresh, a send, a power cycle, a send — runs once on a counting disk to learn how many
 * file calls of each kind it makes; then, for a fault kind (open, read, write, fsync, unlink, or any call),
 * an errno (ENOSPC, EIO, EROFS), one-shot or persistent, and each n, the scenario runs with the n-th call of that
 * kind failing, the disk is cleared, and the device is left to recover by itself. Then, for every case:
 *  - every job acknowledged to the submitter is in the committed image with its content in the spool (nothing
 *    acknowledged is lost), and after recovery it is delivered;
 *  - the device reported the fault with a reason while it lasted, and recovered without anyone's help (the admin only
 *    signs in again where the disk refused the sign-in's own record, which the device says);
 *  - the power cycle after recovery boots cleanly from an image that verifies.
 * `npm test` runs a seeded sample (IOFAULT_CASES, default 30; IOFAULT_SEED); `npm run test:iofault` runs every case
 * and prints the figures (docs/nvram.md).
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { OAUTH_SETTINGS } from '../support/deviceHarness.ts';
import { boot, newRun, powerCycle, type Run } from '../support/faultyDevice.ts';
import { FAULT_ERRNOS, FAULT_KINDS, type FaultKind, type FaultPlan } from '../../src/util/faulty-io.ts';
import { StorageFaultError } from '../../src/device/storage-fault.ts';
import { readCommitted, verifyImage } from '../../src/nvram/inspect.ts';
import type { NvramData } from '../../src/nvram/index.ts';
import { seededRandom } from '../../src/util/random.ts';

const FULL = process.env.IOFAULT_FULL === '1';
const BUDGET = Number(process.env.IOFAULT_CASES ?? 30);
const SEED = Number(process.env.IOFAULT_SEED ?? 13);
/** IOFAULT_TRACE=1 prints each case as it starts; IOFAULT_ONLY="read #3 EIO persistent" runs that case alone. */
const TRACE = process.env.IOFAULT_TRACE === '1';
const ONLY = process.env.IOFAULT_ONLY;

/** Boot codes that mean committed content was lost or the image is not what the device last committed. */
const CORRUPT_CODES = new Set(['no-valid-bank', 'image-lost', 'bank-erased', 'device-key-changed', 'snapshot-unreadable']);

/** One step of the scenario: a request the disk refuses is counted, anything else fails the test. */
async function step(r: Run, fn: () => Promise<unknown>): Promise<void> {
  if (!r.on) return;
  try {
    await fn();
  } catch (err) {
    if (!(err instanceof StorageFaultError)) throw err;
    r.refused++;
  }
  await r.h.device.idle();
  const fault = r.h.device.status().storageFault;
  if (fault) r.reasons.add(fault.reason);
}

async function advance(r: Run, ms: number): Promise<void> {
  if (r.on) await step(r, () => r.h.advance(ms));
  else await r.h.clock.advance(ms);
}

async function submit(r: Run, subject: string): Promise<void> {
  await step(r, async () => {
    const job = await r.h.device.submitJob({ to: ['bob@contoso.com'], subject });
    r.acked.set(job.id, job.messageId);
  });
}

async function scenario(r: Run): Promise<void> {
  await boot(r);
  await step(r, () => r.h.device.saveSettings(OAUTH_SETTINGS));
  await step(r, () => r.h.device.send({ type: 'START_AUTH' }));
  await step(r, async () => r.h.fake.signIns.at(-1)?.grant());
  await submit(r, 'scan 1');
  await advance(r, 60 * 60_000); // the access token's deadline: a refresh
  await submit(r, 'scan 2');
  await powerCycle(r, 60_000);
  await submit(r, 'scan 3');
  await advance(r, 5 * 60_000);
}

/** What the image says right now (read before the device touches it again): every acknowledged job is in it. */
async function checkAcknowledgedDurable(r: Run, where: string): Promise<void> {
  const committed = await readCommitted(r.h.file);
  const data = committed?.content as NvramData | undefined;
  for (const [id] of r.acked) {
    const inSpool = data?.spool.some((j) => j.id === id) ?? false;
    const finished = data?.jobLog.some((j) => j.id === id) ?? false;
    expect(inSpool || finished, `${where}: acknowledged job ${id} is in no committed bank`).toBe(true);
    if (inSpool) expect(existsSync(path.join(r.h.dir, 'spool', `${id}.json`)), `${where}: content of acknowledged job ${id} is gone`).toBe(true);
  }
}

interface Figures {
  cases: number;
  fired: number;
  faultsInjected: number;
  refused: number;
  bootFailures: number;
  adminSignIns: number;
  reasons: Record<string, number>;
  states: Record<string, number>;
  fallbackBoots: number;
  corruptBoots: number;
  lost: number;
  duplicates: number;
  /** Cases that broke an invariant, with the first broken one's message (the sweep goes on to count them all). */
  failures: string[];
}

function newFigures(): Figures {
  return { cases: 0, fired: 0, faultsInjected: 0, refused: 0, bootFailures: 0, adminSignIns: 0, reasons: {}, states: {}, fallbackBoots: 0, corruptBoots: 0, lost: 0, duplicates: 0, failures: [] };
}

const caseName = (plan: FaultPlan) => `${plan.kind} #${plan.at} ${plan.errno} ${plan.persistent ? 'persistent' : 'one-shot'}`;

const bump = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);

async function runCase(plan: FaultPlan, fig: Figures): Promise<void> {
  const where = `[${caseName(plan)}]`;
  if (TRACE) console.log(`I/O-fault case ${where}`);
  const dir = await mkdtemp(path.join(tmpdir(), 'mfp-iofault-'));
  const r = await newRun(dir);
  try {
    r.disk.inject(plan);
    await scenario(r);
    const injected = r.disk.injected.length;
    const state = r.on ? r.h.device.state() : 'off';
    const fault = r.on ? r.h.device.status().storageFault : null;
    bump(fig.states, fault ? `${state} (${fault.reason})` : state);
    r.disk.clear();

    // Nothing acknowledged is lost, whatever the disk did.
    await checkAcknowledgedDurable(r, where);

    // The disk works again: the device recovers by itself (its storage retry), or, if it was off, at power-on.
    if (!r.on) await boot(r);
    expect(r.on, `${where}: the device does not boot on a working disk`).toBe(true);
    await r.h.advance(2 * 60_000);
    const status = r.h.device.status();
    expect(status.storageFault ?? null, `${where}: still reports a storage fault after the disk recovered`).toBeNull();
    // Where the disk refused the sign-in (or the settings) the device says so and waits for the admin: they sign in.
    const signedIn = () => ['authorized', 'tokenExpired'].includes(r.h.device.state());
    if (!signedIn()) {
      fig.adminSignIns++;
      if (r.h.device.state() === 'unconfigured' || !r.h.device.can('START_AUTH')) await r.h.device.saveSettings(OAUTH_SETTINGS);
      await r.h.device.idle();
      if (r.h.device.can('START_AUTH')) {
        await r.h.device.send({ type: 'START_AUTH' });
        await r.h.device.idle();
        r.h.fake.lastSignIn().grant();
        await r.h.device.idle();
      }
    }
    await r.h.advance(15 * 60_000); // the statechart's own send retries
    expect(signedIn(), `${where}: not back to work: ${r.h.device.state()} (${JSON.stringify(r.h.device.status().lastError)})`).toBe(true);

    // Every acknowledged job was delivered, none is reported failed.
    const sent = r.h.fake.sent.map((m) => m.messageId);
    for (const [id, messageId] of r.acked) {
      const job = r.h.device.job(id);
      if (job?.status !== 'sent' || !sent.includes(messageId)) fig.lost++;
      expect(job?.status, `${where}: acknowledged job ${id} is ${job?.status ?? 'gone'} (${job?.reply})`).toBe('sent');
      expect(sent, `${where}: acknowledged job ${id} never delivered`).toContain(messageId);
    }
    fig.duplicates += sent.length - new Set(sent).size;

    // The next boot is clean, from an image that verifies, and keeps what was delivered.
    await powerCycle(r, 60_000);
    expect(r.on, `${where}: the power cycle after recovery does not boot`).toBe(true);
    // Every boot of the case: none lost content or identity (a bank the fault tore may be fallen back from, and is
    // counted); the last one, after recovery, has nothing to report at all.
    const corrupt = r.boots.filter((codes) => codes.some((c) => CORRUPT_CODES.has(c)));
    fig.corruptBoots += corrupt.length;
    fig.fallbackBoots += r.boots.filter((codes) => codes.includes('bank-invalid')).length;
    expect(corrupt, `${where}: boots that lost something`).toEqual([]);
    expect(r.boots.at(-1), `${where}: the boot after recovery is not clean`).toEqual([]);
    const verdict = await verifyImage(r.h.file);
    expect(verdict.ok, `${where}: image does not verify: ${verdict.reason}`).toBe(true);
    for (const [id] of r.acked) expect(r.h.device.job(id)?.status, `${where}: job ${id} after the power cycle`).toBe('sent');

    fig.cases++;
    if (injected > 0) fig.fired++;
    fig.faultsInjected += injected;
    fig.refused += r.refused;
    fig.bootFailures += r.bootFailures;
    for (const reason of r.reasons) bump(fig.reasons, reason);
  } finally {
    await r.h.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A case takes well under a second; one that has not finished after a minute is stuck (an await that never settles, a
 * retry that never ends), and fails by its name instead of the whole sweep timing out without one. Not a speed check.
 */
const HANG_AFTER_MS = 60_000;
async function withinHangGuard(plan: FaultPlan, run: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`[${caseName(plan)}]: did not finish within ${HANG_AFTER_MS / 1000} s (hangs)`)), HANG_AFTER_MS);
  });
  run.catch(() => undefined); // a stuck case that fails later has already been counted
  try {
    await Promise.race([run, hung]);
  } finally {
    clearTimeout(timer);
  }
}

/** Every case of the sweep: each kind (and any call), each errno, one-shot and persistent, each n of that kind. */
function allCases(calls: Record<FaultKind, number>, total: number): FaultPlan[] {
  const cases: FaultPlan[] = [];
  for (const kind of [...FAULT_KINDS, 'any'] as const) {
    const n = kind === 'any' ? total : calls[kind];
    for (const errno of FAULT_ERRNOS) for (const persistent of [false, true]) for (let at = 1; at <= n; at++) cases.push({ kind, at, errno, persistent });
  }
  return cases;
}

function sample(cases: FaultPlan[], budget: number, seed: number): FaultPlan[] {
  const rnd = seededRandom(seed);
  const pool = [...cases];
  for (let i = pool.length - 1; i > 0; i--) {
    const j = rnd.int(0, i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, budget);
}

describe('I/O-fault sweep', () => {
  it(`every kind × errno × one-shot/persistent × call n${FULL ? '' : ` (seeded sample of ${BUDGET})`}: nothing acknowledged lost, clean boots, recovery`, async () => {
    // Reference run on a counting disk.
    const refDir = await mkdtemp(path.join(tmpdir(), 'mfp-iofault-ref-'));
    const ref = await newRun(refDir);
    await scenario(ref);
    await ref.h.close();
    await rm(refDir, { recursive: true, force: true });
    expect(ref.acked.size).toBe(3);
    expect(ref.refused).toBe(0);
    const calls = { ...ref.disk.calls };
    const total = ref.disk.total;
    for (const kind of FAULT_KINDS) expect(calls[kind], `the scenario makes ${kind} calls`).toBeGreaterThan(0);

    const cases = allCases(calls, total);
    const chosen = ONLY ? cases.filter((c) => caseName(c) === ONLY) : FULL ? cases : sample(cases, BUDGET, SEED);
    if (ONLY) expect(chosen.length, `IOFAULT_ONLY names no case: ${ONLY}`).toBe(1);
    const fig = newFigures();
    for (const plan of chosen) {
      try {
        await withinHangGuard(plan, runCase(plan, fig));
      } catch (err) {
        fig.failures.push((err as Error).message.split('\n')[0]!);
        if (!FULL) break; // npm test: the first broken case is enough to fail on
      }
    }
    const report = { calls, total, planned: cases.length, ...fig };
    if (FULL || process.env.IOFAULT_REPORT) console.log(`I/O-fault sweep figures: ${JSON.stringify(report, null, 2)}`);
    expect(fig.failures).toEqual([]);
    expect(fig.cases).toBe(chosen.length);
    expect(fig.fired).toBeGreaterThan(0); // the sweep bites
    expect(fig.lost).toBe(0);
    expect(fig.corruptBoots).toBe(0);
  }, FULL ? 6 * 60 * 60_000 : 5 * 60_000);
});
