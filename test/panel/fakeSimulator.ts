/**
 * FakeSimulator: the panel's view of a simulator (PanelSim) around a DeviceHarness — a real device on a real NVRAM
 * file with fake Microsoft ports and a virtual clock. Named a fake because there is no twin and no real adapters.
 */
import type { Device } from '../../src/device/device.ts';
import type { PanelSim } from '../../src/panel/types.ts';
import { DeviceHarness } from '../support/deviceHarness.ts';

export class FakeSimulator implements PanelSim {
  readonly twin = null;
  private readonly bootListeners = new Set<(d: Device) => void>();

  private constructor(readonly harness: DeviceHarness) {}

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
