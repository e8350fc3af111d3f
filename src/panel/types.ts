/**
 * What the panel needs from the simulator: a narrow slice of `Simulator` (src/sim/types.ts), so tests can hand it
 * a fake built around a DeviceHarness. The device is read through the getter on every use: a power cycle replaces it.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Device } from '../device/device.ts';
import type { Clock } from '../time/clock.ts';
import type { Twin } from '../cloud/twin.ts';
import type { ClockService } from '../device/clockService.ts';

export interface PanelSim {
  readonly device: Device;
  readonly clock: Clock;
  readonly twin: Twin | null;
  /** The printer's clock (RTC, NTP); absent in fakes that have none. */
  readonly deviceClock?: ClockService;
  powerCycle(offMs?: number): Promise<Device>;
  onBoot(listener: (device: Device) => void): () => void;
}

export interface PanelOptions {
  sim: PanelSim;
  /** Admin password to set (else MFP_ADMIN_PASSWORD, else the stored hash, else a generated one). */
  adminPassword?: string;
  /** Where the panel is reachable, for the OpenAPI "servers" entry. */
  publicUrl?: string;
  /** 32-byte session key; default: random per start (sessions do not survive a restart, like a printer's). */
  sessionKey?: Buffer;
  /** pino logger (redacting) or false. */
  logger?: FastifyBaseLogger | false;
  /** Host names and addresses the panel is served on, besides loopback's; other `Host` headers get 421. */
  allowedHosts?: readonly string[];
  /** Login attempts per minute per client address (rate limit); default 10. */
  loginRateLimit?: number;
}
