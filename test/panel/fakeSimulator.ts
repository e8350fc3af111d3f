/**
 * FakeSimulator: the panel's view of a simulator (PanelSim) around a DeviceHarness — a real device on a real NVRAM
 * file with fake Microsoft ports and a virtual clock, behind the one printer interface (`localPrinter`). Named a fake
 * because there is no twin and no real adapters. Tests still reach the harness's device for their own assertions.
 */
import type { Device } from '../../src/device/device.ts';
import type { Printer } from '../../src/device/printer.ts';
import type { PanelSim } from '../../src/panel/types.ts';
import { localPrinter } from '../../src/sim/printer.ts';
import { DeviceHarness } from '../support/deviceHarness.ts';

export class FakeSimulator implements PanelSim {
  readonly twin = null;
  readonly printer: Printer;
  private readonly bootListeners = new Set<(d: Device) => void>();

  private constructor(readonly harness: DeviceHarness) {
    this.printer = localPrinter({
      get device() {
        return harness.device;
      },
      virtualClock: harness.clock,
      stateDir: harness.dir,
      advance: (ms) => harness.advance(ms),
      powerCycle: (offMs) => this.powerCycle(offMs),
      onBoot: (listener) => this.onBoot(listener),
    });
  }

  /** Over a fresh harness, or the one given (e.g. on a failing disk). */
  static async create(harness?: DeviceHarness): Promise<FakeSimulator> {
    return new FakeSimulator(harness ?? (await DeviceHarness.create()));
  }

  get device(): Device {
    return this.harness.device;
  }

  get clock() {
    return this.harness.clock;
  }

  async powerCycle(offMs = 0): Promise<Device> {
    const d = await this.harness.powerCycle(offMs);
    for (const l of this.bootListeners) l(d);
    return d;
  }

  onBoot(listener: (d: Device) => void): () => void {
    this.bootListeners.add(listener);
    return () => this.bootListeners.delete(listener);
  }

  close(): Promise<void> {
    return this.harness.close();
  }
}
