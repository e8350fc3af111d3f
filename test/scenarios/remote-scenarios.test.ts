/**
 * `mfp-sim scenario run --driver URL --twin URL`: shipped scenarios through the driver protocol, against our own
 * printer's driver (virtual clock, every capability) and against examples/python-printer (wall time, no clock
 * control) with the wall-time scenario. JUnit: one testcase per scenario, skipped steps said with their reason.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { XMLParser } from 'fast-xml-parser';
import { DEFAULT_TENANT_FILE } from '../../src/cloud/tenant-fixture.ts';
import { startDriverServer, type DriverServer } from '../../src/driver/server.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { runFiles } from '../../src/scenario/cli.ts';
import { localPrinter } from '../../src/sim/printer.ts';
import { startSimulator } from '../../src/sim/simulator.ts';
import type { Simulator } from '../../src/sim/types.ts';
import type { Twin } from '../../src/cloud/twin.ts';
import { pythonMsalAvailable, startPythonPrinter, startShortTwin, type PythonPrinter } from '../driver/python-printer-harness.ts';

const scenario = (name: string) => path.resolve('fixtures/scenarios', name);
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
});

function io() {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write: (c, _e, cb) => (f(String(c)), cb()) });
  return { io: { out: sink((s) => (out += s)), err: sink((s) => (err += s)) }, out: () => out, err: () => err };
}

const parseJunit = async (file: string) =>
  new XMLParser({ ignoreAttributes: false, isArray: (n) => n === 'testcase' || n === 'testsuite' }).parse(await readFile(file, 'utf8'));

/** Our printer (src/sim, virtual clock, the embedded twin on sockets) behind its driver. */
async function ourPrinter(): Promise<{ sim: Simulator; driver: DriverServer; work: string }> {
  const work = await mkdtemp(path.join(tmpdir(), 'mfp-remote-scenario-'));
  closers.push(() => rm(work, { recursive: true, force: true }));
  const fixture = JSON.parse(await readFile(DEFAULT_TENANT_FILE, 'utf8'));
  fixture.deviceCode.intervalSeconds = 0.1; // a sign-in costs a tenth of a second of wall time
  const tenantFile = path.join(work, 'tenant.json');
  await writeFile(tenantFile, JSON.stringify(fixture));
  const sim = await startSimulator({ stateDir: work, clock: 'virtual', cloud: { mode: 'twin', tenantFile, seed: 7 }, logger: silentLogger() });
  closers.push(() => sim.close());
  const driver = await startDriverServer({ printer: localPrinter(sim), name: 'mfp-sim reference printer' });
  closers.push(() => driver.close());
  return { sim, driver, work };
}

describe('scenario run --driver against our printer', () => {
  it('runs shipped scenarios through the driver; checks outside the protocol are listed, not passed; JUnit per scenario', async () => {
    const { sim, driver, work } = await ourPrinter();
    const output = path.join(work, 'scenarios.xml');
    const c = io();
    const code = await runFiles(
      [scenario('happy-path.json'), scenario('code-expired.json'), scenario('device-key-changed.json')],
      { driver: driver.url, twin: sim.twin!.entraUrl, twinCa: sim.twin!.caPath, reporter: 'junit', output },
      c.io,
    );
    expect(c.err()).toBe('');
    expect(code, c.out()).toBe(0);
    expect(c.out()).toMatch(/PASS happy path .*\n\s+not checked: .*attachments.*noTokenText/);
    expect(c.out()).toMatch(/PASS code expired/);
    expect(c.out()).toMatch(/SKIP .*device key.*\n\s+skipped at steps\[\d+\].*deviceKey/i);
    expect(c.out()).toMatch(/2 passed, 0 failed, 1 skipped/);

    const xml = await parseJunit(output);
    const cases = xml.testsuites.testsuite.flatMap((s: { testcase: unknown[] }) => s.testcase) as Record<string, unknown>[];
    expect(cases).toHaveLength(3);
    expect(cases.filter((t) => 'skipped' in t)).toHaveLength(1);
    expect(cases.filter((t) => 'failure' in t)).toHaveLength(0);
  }, 120_000);

  it('fails a scenario at the step whose expectation the printer does not meet, naming it', async () => {
    const { sim, driver, work } = await ourPrinter();
    const file = path.join(work, 'wrong.json');
    await writeFile(file, JSON.stringify({ name: 'wrong expectation', steps: [{ expect: { state: 'authorized' } }] }));
    const output = path.join(work, 'wrong.xml');
    const c = io();
    const code = await runFiles([file], { driver: driver.url, twin: sim.twin!.entraUrl, twinCa: sim.twin!.caPath, reporter: 'junit', output }, c.io);
    expect(code).toBe(1);
    expect(c.out()).toMatch(/FAIL wrong expectation .*\n.*steps\[0\]: expect: expectation not met\n\s+state: expected "authorized", actual "unconfigured"/);
    const cases = (await parseJunit(output)).testsuites.testsuite[0].testcase;
    expect(cases).toHaveLength(1);
    expect(cases[0].failure['@_message']).toMatch(/expectation not met/);
  }, 60_000);

  it('refuses --driver without --twin and a dead driver with a message naming the call', async () => {
    const c = io();
    expect(await runFiles([scenario('happy-path.json')], { driver: 'http://127.0.0.1:9' }, c.io)).toBe(2);
    expect(c.err()).toMatch(/--driver and --twin go together/);
    const d = io();
    expect(await runFiles([scenario('happy-path.json')], { driver: 'http://127.0.0.1:9', twin: 'https://127.0.0.1:9' }, d.io)).toBe(1);
    expect(d.err()).toMatch(/hello/);
  });
});

const skipPython = !pythonMsalAvailable() && !process.env.CI;
describe.skipIf(skipPython)('scenario run --driver against the python printer (wall time)', () => {
  it('runs the wall-time scenario to the end: the deadline is waited for, not skipped', async () => {
    const twin: Twin = await startShortTwin();
    closers.push(() => twin.close());
    const printer: PythonPrinter = await startPythonPrinter(twin);
    closers.push(() => printer.stop());
    const work = await mkdtemp(path.join(tmpdir(), 'pp-scenario-'));
    closers.push(() => rm(work, { recursive: true, force: true }));
    const output = path.join(work, 'wall.xml');
    const c = io();
    const code = await runFiles(
      [scenario('wall-time/sign-in-send-power-refresh.json'), scenario('code-expired.json')],
      { driver: printer.url, twin: twin.entraUrl, twinCa: twin.caPath, reporter: 'junit', output, wallWait: 30_000 },
      c.io,
    );
    expect(code, `${c.out()}\n${c.err()}\n${printer.stderr()}`).toBe(0);
    expect(c.out()).toMatch(/printer: python-printer \(capabilities: nvram, power, events\)/);
    expect(c.out()).toMatch(/PASS wall time/);
    // code-expired advances 14m59s: no clock control, so it is skipped with the capability that would run it.
    expect(c.out()).toMatch(/SKIP code expired .*\n\s+skipped at steps\[\d+\].*no clock control \[needs clock\]/);
    const cases = (await parseJunit(output)).testsuites.testsuite.flatMap((s: { testcase: unknown[] }) => s.testcase) as Record<string, unknown>[];
    expect(cases.map((t) => ('skipped' in t ? 'skipped' : 'failure' in t ? 'failed' : 'passed'))).toEqual(['passed', 'skipped']);
  }, 120_000);
});
