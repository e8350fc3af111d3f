/** Boots real devices (real NVRAM files, real spool) on a virtual clock with fake ports, and power-cycles them. */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openNvram, type Nvram, type NvramIo } from '../../src/nvram/index.ts';
import type { SpoolIo } from '../../src/device/spool-io.ts';
import { createDevice, type Device } from '../../src/device/device.ts';
import { VirtualClock } from '../../src/time/clock.ts';
import { FakePorts } from './fakePorts.ts';

export const OAUTH_SETTINGS = {
  smtpServerName: 'smtp.office365.com',
  smtpPort: 587,
  useSecureConnection: true,
  authMethod: 'oauth2ExchangeOnline',
  authEmailAddress: 'scanner@contoso.com',
  authUsername: 'scanner@contoso.com',
  adminEmailAddress: 'scanner@contoso.com',
} as const;

export class DeviceHarness {
  device!: Device;
  nvram!: Nvram;
  readonly clock = new VirtualClock();
  readonly fake = new FakePorts();

  /** The disk under the NVRAM (a PowerCutIo in the power-loss sweep); undefined = real files. */
  io: NvramIo | undefined;
  /** The disk under the spool (a FaultyDisk's in the I/O-fault sweep); undefined = real files. */
  spoolIo: SpoolIo | undefined;

  private constructor(readonly dir: string) {}

  /** NVRAM capacity per bank (default: the store's 64 KiB). */
  capacityBytes: number | undefined;

  static async create(dir?: string, opts: { io?: NvramIo; spoolIo?: SpoolIo; boot?: boolean; capacityBytes?: number } = {}): Promise<DeviceHarness> {
    const h = new DeviceHarness(dir ?? (await mkdtemp(path.join(tmpdir(), 'mfp-dev-'))));
    h.io = opts.io;
    h.spoolIo = opts.spoolIo;
    h.capacityBytes = opts.capacityBytes;
    if (opts.boot !== false) await h.boot();
    return h;
  }

  get file(): string {
    return path.join(this.dir, 'nvram.json');
  }

  async boot(): Promise<Device> {
    this.nvram = await openNvram({
      file: this.file,
      now: () => this.clock.now(),
      io: this.io,
      ...(this.capacityBytes ? { capacityBytes: this.capacityBytes } : {}),
      factoryDevice: { id: 'dev-test-0001', serial: 'SIM0001' },
    });
    this.device = await createDevice({
      nvram: this.nvram,
      clock: this.clock,
      ports: this.fake.ports,
      spoolDir: path.join(this.dir, 'spool'),
      spoolIo: this.spoolIo,
    });
    await this.device.idle();
    return this.device;
  }

  async powerCycle(offForMs = 0): Promise<Device> {
    this.device.stop();
    await this.nvram.close();
    await this.clock.advance(offForMs);
    return this.boot();
  }

  async advance(ms: number): Promise<void> {
    await this.clock.advance(ms, () => this.device.idle());
    await this.device.idle();
  }

  async close(): Promise<void> {
    // Open the gates first, or idle() would wait for work parked on them.
    this.fake.sendGate?.resolve();
    this.fake.refreshGate?.resolve();
    this.fake.appTokenGate?.resolve();
    this.device?.stop();
    await this.device?.idle().catch(() => undefined);
    await this.nvram?.close();
  }

  /** Configure, start auth, issue a code and grant a token: the seed's steps on fakes. */
  async signIn(): Promise<void> {
    await this.device.saveSettings(OAUTH_SETTINGS);
    await this.device.send({ type: 'START_AUTH' });
    await this.device.idle();
    this.fake.lastSignIn().grant();
    await this.device.idle();
  }
}
