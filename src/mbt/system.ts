/**
 * The system the model-based tests run against: `startSimulator` (the device runtime on its real NVRAM and spool,
 * the real msal-node and nodemailer adapters) against the embedded twin (Entra + Exchange over real loopback
 * sockets) on one virtual clock, and the panel's JSON API on 127.0.0.1:0. Two test hooks go in through the
 * simulator's `wrapPorts`: effect gates (see gates.ts) and, for the bite tests, a deliberate fault.
 */
import path from 'node:path';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { DevicePorts, TokenCacheStore } from '../device/ports.ts';
import { VirtualClock } from '../time/clock.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import { startTwin, type Twin } from '../cloud/twin.ts';
import { DEFAULT_TENANT_FILE } from '../cloud/tenant-fixture.ts';
import { ensureCertificates } from '../cloud/entra/certs.ts';
import { ensureSigningKey } from '../cloud/entra/signing-key.ts';
import { startSimulator } from '../sim/simulator.ts';
import { startPanel, type RunningPanel } from '../panel/index.ts';
import { localPrinter } from '../sim/printer.ts';
import type { PanelSim } from '../panel/types.ts';
import { EffectGates } from './gates.ts';
import { createSchemaCompilers, type SchemaCompilers } from '../util/schema-compilers.ts';

/** A deliberate fault for the bite tests: wraps what the device is built with. */
export interface InjectedFault {
  name: string;
  /** What the fault does, for the report. */
  description: string;
  wrapTokenCache?: (store: TokenCacheStore) => TokenCacheStore;
  wrapPorts?: (ports: DevicePorts) => DevicePorts;
}

/** The printer (`printer`, the one interface), the shared clock, the twin, the gates and the panel's address. */
export interface SystemUnderTest extends PanelSim {
  readonly clock: VirtualClock;
  readonly twin: Twin;
  readonly gates: EffectGates;
  readonly panelUrl: string;
  readonly adminPassword: string;
  close(): Promise<void>;
}

export interface SystemOptions {
  /** Seeds the twin's token lifetimes. */
  seed?: number;
  fault?: InjectedFault;
  logger?: Logger;
  /** What the systems of this process share (prepareShared); absent: this system makes its own. */
  shared?: SharedSetup;
}

/**
 * What the systems of one process share, as a fleet of printers in one process would: the twin's CA, certificate and
 * signing key (key generation is slow) and the route schemas compiled for the twin's and the panel's Fastify apps
 * (most of the CPU of starting them). Nothing a printer or a twin keeps as its own state.
 */
export interface SharedSetup {
  certDir: string;
  schemaCompilers: SchemaCompilers;
}

/** Creates the twin's certificates and signing key once, in a fresh directory, and one set of schema compilers. */
export async function prepareShared(): Promise<SharedSetup> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mfp-mbt-certs-'));
  await ensureCertificates(dir);
  await ensureSigningKey(dir);
  return { certDir: dir, schemaCompilers: createSchemaCompilers() };
}

export const ADMIN_PASSWORD = 'mbt-admin-password';

export async function startSystemUnderTest(opts: SystemOptions = {}): Promise<SystemUnderTest> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mfp-mbt-'));
  const clock = new VirtualClock();
  const logger = opts.logger ?? silentLogger();
  const cloudDir = opts.shared?.certDir ?? path.join(dir, 'cloud');
  await mkdir(cloudDir, { recursive: true });
  // The default tenant, polled every 50 ms (the fixture's minimum): a granted or refused sign-in waits for MSAL's next
  // poll on wall time, and at 5 s (the default) or 0.1 s that wait was most of a sign-in step.
  const fixture = JSON.parse(await readFile(DEFAULT_TENANT_FILE, 'utf8'));
  fixture.deviceCode.intervalSeconds = 0.05;
  const tenantFile = path.join(dir, 'tenant.json');
  await writeFile(tenantFile, JSON.stringify(fixture));
  // Started here rather than by the simulator so that its certificates and compiled schemas can be shared.
  // No greeting pause: it stands for a real server's latency, which no check here is about, and it cost 100 ms of
  // wall time per SMTP connection.
  const twin = await startTwin({ stateDir: cloudDir, tenantFile, clock, seed: opts.seed ?? 7, smtpGreetingDelayMs: 0, schemaCompilers: opts.shared?.schemaCompilers });

  const gates = new EffectGates();
  const fault = opts.fault;
  const sim = await startSimulator({
    stateDir: path.join(dir, 'device'),
    clock,
    twin,
    logger,
    settleOnBoot: false, // effects may be held on gates: the executor settles each step itself
    wrapPorts: (build) =>
      gates.wrap((cache: TokenCacheStore) => {
        const ports = build(fault?.wrapTokenCache ? fault.wrapTokenCache(cache) : cache);
        return fault?.wrapPorts ? fault.wrapPorts(ports) : ports;
      }),
  }).catch(async (err) => {
    await twin.close();
    throw err;
  });

  /** Held effects die with the power: halt the device first so that it ignores what their abandonment reports. */
  const powerCycle = (offMs = 0) => {
    sim.halt();
    gates.abandonAll();
    return sim.powerCycle(offMs);
  };
  let panel: RunningPanel | null = null;
  const sut: SystemUnderTest = {
    clock,
    twin,
    gates,
    adminPassword: ADMIN_PASSWORD,
    get panelUrl() {
      if (!panel) throw new Error('the panel is not listening');
      return panel.url;
    },
    // The printer interface over this system: its power control is the power cycle above, held effects and all.
    printer: localPrinter({
      get device() {
        return sim.device;
      },
      virtualClock: sim.virtualClock,
      stateDir: sim.stateDir,
      advance: (ms) => sim.advance(ms),
      powerCycle,
      onBoot: (listener) => sim.onBoot(listener),
    }),
    async close() {
      await panel?.close();
      sim.halt();
      gates.abandonAll();
      await sim.close().catch(() => undefined); // its idle() returns: the stopped device starts nothing new
      await twin.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    panel = await startPanel({ sim: sut, host: '127.0.0.1', port: 0, adminPassword: ADMIN_PASSWORD, logger: false, schemaCompilers: opts.shared?.schemaCompilers });
  } catch (err) {
    await sut.close();
    throw err;
  }
  return sut;
}
