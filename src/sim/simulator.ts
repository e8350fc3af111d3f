/**
 * The simulator assembly: one printer (device runtime + NVRAM + spool + the msal-node and nodemailer adapters) and,
 * in twin mode, the embedded Microsoft twin, all on one clock. Nothing here is module-level: every call builds its
 * own world, so a process can hold many.
 */
import path from 'node:path';
import { makePrivateDir } from '../util/private-fs.ts';
import { openNvram, type CloudSettings, type Nvram } from '../nvram/index.ts';
import { createDevice, type Device } from '../device/device.ts';
import { seededRandom } from '../util/random.ts';
import { ClockService, type TimeSyncPort } from '../device/clockService.ts';
import { microsoftFactoryRoots, TrustStore } from '../device/trustStore.ts';
import { retryTlsFailuresOnChange } from '../device/tlsRecovery.ts';
import { querySntp } from '../adapters/sntp.ts';
import { RealClock, VirtualClock, type Clock } from '../time/clock.ts';
import { persistedVirtualClock } from '../time/persisted-clock.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import { startTwin, type Twin } from '../cloud/twin.ts';
import { createDeviceAdapters, microsoftCloud, twinCloud, type CloudConfig, type DeviceAdapters } from '../adapters/index.ts';
import type { Simulator, SimulatorOptions } from './types.ts';
import { localPrinter } from './printer.ts';
import type { Printer } from '../device/printer.ts';

export type { Simulator, SimulatorOptions } from './types.ts';
/** For the processes that run many printers (fleet slices, storms): see SimulatorOptions.payloadBuffers. */
export { PayloadBuffers } from '../nvram/index.ts';

/** What the simulator built, for tests and tools that need to look under the hood (the MSAL instance, the routes). */
export interface SimulatorInternals {
  readonly cloud: CloudConfig;
  readonly nvram: Nvram;
  readonly adapters: DeviceAdapters;
  readonly logger: Logger;
}

export async function startSimulator(opts: SimulatorOptions): Promise<Simulator & { internals: SimulatorInternals }> {
  const stateDir = path.resolve(opts.stateDir);
  await makePrivateDir(stateDir);
  // A virtual clock the simulator makes itself is the printer's battery-backed clock: it resumes after a restart.
  const rtc = opts.clock === undefined || opts.clock === 'virtual' ? persistedVirtualClock(path.join(stateDir, 'rtc.json')) : null;
  const clock: Clock = opts.clock === 'real' ? new RealClock() : rtc ? rtc.clock : (opts.clock as Clock);
  const virtualClock = clock instanceof VirtualClock ? clock : null;
  const logger = opts.logger ?? createLogger({ name: 'mfp-sim' });
  if (rtc?.problem) logger.warn({ problem: rtc.problem }, 'virtual clock: saved time unusable, starting at the origin');
  else if (rtc?.resumedFrom) logger.info({ at: new Date(rtc.resumedFrom).toISOString() }, 'virtual clock resumed from the state directory');
  const choice = opts.cloud ?? { mode: 'twin' as const };

  // The cloud: a twin we own, a twin someone shares with us, or Microsoft.
  let ownTwin: Twin | null = null;
  let twin: Twin | null = null;
  let cloud: CloudConfig;
  if (choice.mode === 'microsoft') {
    cloud = microsoftCloud(choice.tenant, choice.clientId, choice.bench);
  } else {
    twin = opts.twin ?? null;
    if (!twin) {
      ownTwin = twin = await startTwin({
        stateDir: path.join(stateDir, 'cloud'),
        clock,
        host: choice.host,
        entraPort: choice.entraPort,
        smtpPort: choice.smtpPort,
        smtpGreetingDelayMs: choice.smtpGreetingDelayMs,
        journalCapacity: choice.journalCapacity,
        tenantFile: choice.tenantFile,
        seed: choice.seed,
        // Our twin dies with this process; Microsoft would still know the printer's sign-in after a restart.
        signInsFile: path.join(stateDir, 'cloud', 'sign-ins.json'),
        ...(choice.dns ? { dns: choice.dns } : {}),
        ...(choice.controlToken ? { controlToken: choice.controlToken } : {}),
        logger,
      });
    }
    cloud = { ...twinCloud(twin), ...(choice.clientId ? { clientId: choice.clientId } : {}) };
  }

  // The printer's NTP server: the twin's in twin mode; none against Microsoft (loopback only, no lab time server).
  const ntpServer = twin?.ntp ?? null;
  const timeSync: TimeSyncPort | null = ntpServer ? (rtc) => querySntp({ host: ntpServer.host, port: ntpServer.port, clock: rtc }) : null;

  const retryJitter = opts.retryJitter ? { fraction: checkJitter(opts.retryJitter.fraction), random: seededRandom(scrambleSeed(opts.retryJitter.seed)).float } : null;
  const nvramFile = path.join(stateDir, 'nvram.json');
  const spoolDir = path.join(stateDir, 'spool');
  let nvram!: Nvram;
  let device!: Device;
  let deviceClock: ClockService | null = null;
  let trustStore!: TrustStore;
  let stopTlsRecovery: () => void = () => {};
  // The firmware's factory roots: the twin's root in twin mode (this simulator's "factory" built it), Microsoft's
  // roots by name against Microsoft (a bench's extra CA is trusted too, as the bench asked).
  const factoryRoots = cloud.mode === 'twin' ? (twin ? [twin.caPem] : []) : [...microsoftFactoryRoots(), ...(choice.mode === 'microsoft' && choice.bench?.caPem ? [choice.bench.caPem] : [])];
  let adapters!: DeviceAdapters;
  let closed = false;
  const bootListeners = new Set<(d: Device) => void>();

  async function boot(): Promise<Device> {
    nvram = await openNvram({
      file: nvramFile,
      // The firmware stamps its records with its own clock (the RTC) once it runs.
      now: () => (deviceClock ?? clock).now(),
      ...(opts.nvramCapacityBytes ? { capacityBytes: opts.nvramCapacityBytes } : {}),
      ...(opts.payloadBuffers ? { payloadBuffers: opts.payloadBuffers } : {}),
    });
    // What the boot found wrong goes to the process log too, not only into the NVRAM event log.
    for (const finding of nvram.boot.findings) logger.warn({ nvram: nvramFile, finding: finding.code }, `NVRAM at boot: ${finding.message}`);
    try {
      const wanted: CloudSettings = { mode: cloud.mode, authority: cloud.authority, clientId: cloud.clientId };
      const stored = nvram.data.settings.cloud;
      if (stored.mode !== wanted.mode || stored.authority !== wanted.authority || stored.clientId !== wanted.clientId) {
        await nvram.update((draft) => {
          draft.settings.cloud = wanted;
          draft.eventLog.push({ at: clock.now(), kind: 'settings', message: `cloud set to ${wanted.mode} (${wanted.authority})` });
        });
      }
      deviceClock = null;
      deviceClock = await ClockService.powerOn({
        shared: clock,
        nvram,
        timeSync,
        logger,
        ...(opts.ntpByDefault !== undefined ? { defaultNtpEnabled: opts.ntpByDefault } : {}),
      });
      const rtc = deviceClock.rtc;
      trustStore = await TrustStore.powerOn({ nvram, clock: rtc, factoryRoots, logger });
      const store = trustStore;
      adapters = createDeviceAdapters({
        cloud,
        logger,
        clientName: `mfp-${nvram.data.device.serial.toLowerCase() || 'sim'}`,
        // TLS is judged on the printer's clock against its own store, not the host's.
        trust: { now: () => rtc.now(), roots: () => store.roots() },
        ...(opts.tlsContexts ? { tlsContexts: opts.tlsContexts } : {}),
      });
      const ports = opts.wrapPorts ? opts.wrapPorts(adapters.ports) : adapters.ports;
      // One generator per simulator, not per boot: a power cycle goes on with the sequence (seeded, so it replays).
      device = await createDevice({ nvram, clock: deviceClock.rtc, ports, spoolDir, logger, retryJitter });
    } catch (err) {
      await nvram.close().catch(() => undefined);
      throw err;
    }
    stopTlsRecovery = retryTlsFailuresOnChange(() => device, [(l) => deviceClock!.rtc.onChange(l), (l) => trustStore.onChange(l)]);
    if (opts.settleOnBoot !== false) await device.idle();
    for (const l of bootListeners) {
      try {
        l(device);
      } catch (err) {
        logger.warn({ err }, 'onBoot listener threw');
      }
    }
    return device;
  }

  /** Power off: timers stop, work in flight is abandoned (sockets cut, as a power cut would), NVRAM closed. */
  async function powerOff(): Promise<void> {
    stopTlsRecovery();
    deviceClock?.stop();
    device.stop();
    await adapters.shutdown();
    await nvram.close();
  }

  try {
    await boot();
  } catch (err) {
    await ownTwin?.close();
    throw err;
  }

  let printer: Printer | undefined;
  const sim: Simulator & { internals: SimulatorInternals } = {
    clock,
    virtualClock,
    twin,
    get device() {
      return device;
    },
    get deviceClock() {
      return deviceClock!;
    },
    get trustStore() {
      return trustStore;
    },
    // Made on first use: it subscribes to the device (and to every later boot).
    get printer() {
      return (printer ??= localPrinter(sim));
    },
    stateDir,
    async advance(ms) {
      if (!virtualClock) throw new Error('advance() needs a virtual clock; this simulator runs on real time');
      const settle = async () => {
        await deviceClock?.idle();
        await device.idle();
      };
      await virtualClock.advance(ms, settle);
      await settle();
    },
    halt() {
      device.stop();
    },
    async powerCycle(offMs = 0) {
      await powerOff();
      if (offMs > 0) {
        if (virtualClock) await virtualClock.advance(offMs);
        else await new Promise((resolve) => setTimeout(resolve, offMs));
      }
      return boot();
    },
    onBoot(listener) {
      bootListeners.add(listener);
      return () => bootListeners.delete(listener);
    },
    async close() {
      if (closed) return;
      closed = true;
      await device.idle().catch(() => undefined);
      await deviceClock?.idle().catch(() => undefined);
      await powerOff().catch(() => undefined);
      await ownTwin?.close();
      rtc?.stop();
    },
    internals: {
      cloud,
      get nvram() {
        return nvram;
      },
      get adapters() {
        return adapters;
      },
      logger,
    },
  };
  return sim;
}

function checkJitter(fraction: number): number {
  if (!Number.isFinite(fraction) || fraction < 0 || fraction > 1) throw new RangeError(`retryJitter.fraction must be within 0…1, got ${fraction}`);
  return fraction;
}

/** Neighbouring seeds (a fleet seeds printer i with base + i) must not start neighbouring sequences: murmur3's fmix32. */
function scrambleSeed(seed: number): number {
  let h = seed | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}
