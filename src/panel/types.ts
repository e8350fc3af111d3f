/**
 * What the panel needs: the printer through the one interface (src/device/printer.ts) and, beside it, the tools'
 * clock, the twin (for the header) and the printer's clock service (the clock settings page). Tests hand it a fake
 * built around a DeviceHarness.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Printer } from '../device/printer.ts';
import type { Clock } from '../time/clock.ts';
import type { Twin } from '../cloud/twin.ts';
import type { ClockService } from '../device/clockService.ts';
import type { SchemaCompilers } from '../util/schema-compilers.ts';

export interface PanelSim {
  readonly printer: Printer;
  readonly clock: Clock;
  readonly twin: Twin | null;
  /** The printer's clock (RTC, NTP); absent in fakes that have none. */
  readonly deviceClock?: ClockService;
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
  /** Route schemas compiled once for every app built with these (src/util/schema-compilers.ts); default: its own. */
  schemaCompilers?: SchemaCompilers;
}
