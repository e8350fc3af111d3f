/**
 * What every benchmark shares: the row format of the report, the machine, timing helpers, and a signed-in simulator
 * on the embedded twin (the thing most rows measure against its physical or library baseline).
 */
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Bench } from 'tinybench';
import { ensureCertificates } from '../src/cloud/entra/certs.ts';
import { ensureSigningKey } from '../src/cloud/entra/signing-key.ts';
import { DEFAULT_TENANT_FILE } from '../src/cloud/tenant-fixture.ts';
import { silentLogger } from '../src/log/logger.ts';
import { startSimulator, type Simulator, type SimulatorInternals } from '../src/sim/simulator.ts';
import { collectGarbage } from '../src/fleet/memory.ts';

export interface Measure {
  value: number;
  unit: string;
}

/** One line of the report: the simulator's figure, its baseline measured in the same run, and the ratio. */
export interface BenchRow {
  id: string;
  name: string;
  measured: Measure | null;
  baseline: Measure | null;
  /** measured / baseline (or as the row explains); null when not measured. */
  ratio: number | null;
  target: { op: '>=' | '<='; value: number; text: string } | null;
  /** null: no target, or nothing measured. */
  met: boolean | null;
  note: string;
}

export function row(r: Omit<BenchRow, 'met'>): BenchRow {
  const met = r.ratio === null || r.target === null ? null : r.target.op === '>=' ? r.ratio >= r.target.value : r.ratio <= r.target.value;
  return { ...r, met };
}

export function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    /** 1-minute load average when the run started: other work on the machine skews every figure. */
    loadAverage: os.loadavg()[0]!,
  };
}

/** Mean operations per second of `fn` over about `ms` of wall time (tinybench). */
export async function opsPerSecond(name: string, fn: () => Promise<unknown> | unknown, ms = 2000): Promise<number> {
  const bench = new Bench({ time: ms, iterations: 5 });
  bench.add(name, fn);
  await bench.run();
  const result = bench.tasks[0]!.result as { state: string; period?: number; error?: Error };
  if (result.state !== 'completed' || !result.period) throw new Error(`${name}: ${result.error?.message ?? result.state}`);
  return 1000 / result.period;
}

/**
 * A figure and its baseline, timed in alternating rounds of `ms` each; each side keeps its best round (a burst of
 * someone else's disk or CPU lands on one round). A full collection before every round, so that a round pays for its
 * own garbage and not for what the other side (a boot allocates much) left behind.
 */
export async function alternatingBest(
  sides: { measured: () => Promise<unknown> | unknown; baseline: () => Promise<unknown> | unknown },
  names: { measured: string; baseline: string },
  rounds: number,
  ms: number,
): Promise<{ measured: number; baseline: number }> {
  let measured = 0;
  let baseline = 0;
  for (let round = 0; round < rounds; round++) {
    collectGarbage();
    measured = Math.max(measured, await opsPerSecond(names.measured, sides.measured, ms));
    collectGarbage();
    baseline = Math.max(baseline, await opsPerSecond(names.baseline, sides.baseline, ms));
  }
  return { measured, baseline };
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `mfp-bench-${prefix}-`));
}

/** The twin's certificates and signing key, made once per run and copied where needed (key generation is slow). */
export async function twinCredentials(): Promise<string> {
  const dir = await tempDir('cloud');
  await ensureCertificates(dir);
  await ensureSigningKey(dir);
  return dir;
}

export type BenchSim = Simulator & { internals: SimulatorInternals };
export const SCANNER = 'scanner@contoso.com';

/** A simulator on the embedded twin, signed in as the fixture's scanner (the device code approved at once). */
export async function signedInSimulator(credentials: string): Promise<BenchSim> {
  const sim = await benchSimulator(credentials);
  await signIn(sim);
  return sim;
}

/** A fresh simulator on its own embedded twin (fixture tenant, 1 s polling), not configured yet. */
export async function benchSimulator(credentials: string): Promise<BenchSim> {
  const dir = await tempDir('sim');
  await cp(credentials, path.join(dir, 'cloud'), { recursive: true });
  const tenant = JSON.parse(await readFile(DEFAULT_TENANT_FILE, 'utf8'));
  tenant.deviceCode.intervalSeconds = 0.1; // msal-node polls on wall time
  const tenantFile = path.join(dir, 'tenant.json');
  await writeFile(tenantFile, JSON.stringify(tenant));
  return startSimulator({ stateDir: dir, cloud: { mode: 'twin', tenantFile, seed: 7 }, logger: silentLogger() });
}

/** Settings, START_AUTH, the code approved through the twin's control API, then wait (wall time) for the token. */
export async function signIn(sim: BenchSim): Promise<void> {
  await sim.device.saveSettings({
    smtpServerName: 'smtp.office365.com',
    smtpPort: 587,
    useSecureConnection: true,
    authMethod: 'oauth2ExchangeOnline',
    authEmailAddress: SCANNER,
    authUsername: SCANNER,
    adminEmailAddress: SCANNER,
  });
  await sim.device.send({ type: 'START_AUTH' });
  await sim.device.idle();
  const code = sim.device.status().userCode;
  if (!code) throw new Error(`no user code: ${sim.device.state()}`);
  sim.twin!.control.approveDeviceCode(code, SCANNER);
  const deadline = Date.now() + 30_000;
  while (sim.device.state() !== 'authorized') {
    if (Date.now() > deadline) throw new Error(`sign-in stuck in ${sim.device.state()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await sim.device.idle();
}
