/**
 * The system the model-based tests run against: the device runtime on its real NVRAM and spool, the real msal-node
 * and nodemailer adapters, the embedded twin (Entra + Exchange over real loopback sockets), one virtual clock, and
 * the panel's JSON API on 127.0.0.1:0. The same parts `startSimulator` wires, plus two hooks the tests need and
 * `SimulatorOptions` does not offer yet: effect gates (see gates.ts) and a port wrapper for the deliberate faults of
 * the bite tests. When the simulator grows a `wrapPorts` option this file shrinks to a call to it.
 */
import path from 'node:path';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { openNvram, type Nvram } from '../nvram/index.ts';
import { createDevice, type Device } from '../device/device.ts';
import type { DevicePorts, TokenCacheStore } from '../device/ports.ts';
import { VirtualClock } from '../time/clock.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import { startTwin, type Twin } from '../cloud/twin.ts';
import { DEFAULT_TENANT_FILE } from '../cloud/tenant-fixture.ts';
import { ensureCertificates } from '../cloud/entra/certs.ts';
import { ensureSigningKey } from '../cloud/entra/signing-key.ts';
import { createDeviceAdapters, twinCloud, type DeviceAdapters } from '../adapters/index.ts';
import { startPanel, type RunningPanel } from '../panel/index.ts';
import type { PanelSim } from '../panel/types.ts';
import { EffectGates } from './gates.ts';

/** A deliberate fault for the bite tests: wraps what the device is built with. */
export interface InjectedFault {
  name: string;
  /** What the fault does, for the report. */
  description: string;
  wrapTokenCache?: (store: TokenCacheStore) => TokenCacheStore;
  wrapPorts?: (ports: DevicePorts) => DevicePorts;
}

export interface SystemUnderTest extends PanelSim {
  readonly clock: VirtualClock;
  readonly twin: Twin;
  readonly device: Device;
  readonly gates: EffectGates;
  readonly nvramFile: string;
  readonly panelUrl: string;
  readonly adminPassword: string;
  close(): Promise<void>;
}

export interface SystemOptions {
  /** Seeds the twin's token lifetimes. */
  seed?: number;
  fault?: InjectedFault;
  logger?: Logger;
  /** A directory for the twin's CA, certificate and signing key, reused across systems (key generation is slow). */
  certDir?: string;
}

/** Creates the twin's certificates and signing key once, in a fresh directory to pass as `certDir`. */
export async function prepareCertDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mfp-mbt-certs-'));
  await ensureCertificates(dir);
  await ensureSigningKey(dir);
  return dir;
}

export const ADMIN_PASSWORD = 'mbt-admin-password';

export async function startSystemUnderTest(opts: SystemOptions = {}): Promise<SystemUnderTest> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mfp-mbt-'));
  const clock = new VirtualClock();
  const logger = opts.logger ?? silentLogger();
  const cloudDir = opts.certDir ?? path.join(dir, 'cloud');
  await mkdir(cloudDir, { recursive: true });
  // The default tenant, polled every second (the fixture's minimum) so that a sign-in costs one second, not five.
  const fixture = JSON.parse(await readFile(DEFAULT_TENANT_FILE, 'utf8'));
  fixture.deviceCode.intervalSeconds = 1;
  const tenantFile = path.join(dir, 'tenant.json');
  await writeFile(tenantFile, JSON.stringify(fixture));
  const twin = await startTwin({ stateDir: cloudDir, tenantFile, clock, seed: opts.seed ?? 7 });

  const cloud = twinCloud(twin);
  const gates = new EffectGates();
  const nvramFile = path.join(dir, 'nvram.json');
  const spoolDir = path.join(dir, 'spool');
  let nvram!: Nvram;
  let device!: Device;
  let adapters!: DeviceAdapters;
  const bootListeners = new Set<(d: Device) => void>();

  const boot = async (): Promise<Device> => {
    nvram = await openNvram({ file: nvramFile, now: () => clock.now() });
    await nvram.update((draft) => {
      draft.settings.cloud = { mode: cloud.mode, authority: cloud.authority, clientId: cloud.clientId };
    });
    adapters = createDeviceAdapters({ cloud, logger, clientName: 'mfp-mbt' });
    const fault = opts.fault;
    const build = (cache: TokenCacheStore) => {
      const ports = adapters.ports(fault?.wrapTokenCache ? fault.wrapTokenCache(cache) : cache);
      return fault?.wrapPorts ? fault.wrapPorts(ports) : ports;
    };
    device = await createDevice({ nvram, clock, ports: gates.wrap(build), spoolDir, logger });
    for (const l of bootListeners) l(device);
    return device;
  };

  const powerOff = async () => {
    device.stop();
    // Held effects die with the power; the stopped device ignores what they report.
    gates.abandonAll();
    await adapters.shutdown();
    await nvram.close();
  };

  await boot();
  let panel: RunningPanel | null = null;
  const sut = {
    clock,
    twin,
    gates,
    nvramFile,
    adminPassword: ADMIN_PASSWORD,
    get device() {
      return device;
    },
    get panelUrl() {
      if (!panel) throw new Error('the panel is not listening');
      return panel.url;
    },
    async powerCycle(offMs = 0) {
      await powerOff();
      if (offMs > 0) await clock.advance(offMs);
      return boot();
    },
    onBoot(listener: (d: Device) => void) {
      bootListeners.add(listener);
      return () => bootListeners.delete(listener);
    },
    async close() {
      await panel?.close();
      await powerOff().catch(() => undefined);
      await twin.close();
      await rm(dir, { recursive: true, force: true });
    },
  } satisfies SystemUnderTest;
  try {
    panel = await startPanel({ sim: sut, host: '127.0.0.1', port: 0, adminPassword: ADMIN_PASSWORD, logger: false });
  } catch (err) {
    await sut.close();
    throw err;
  }
  return sut;
}
