/**
 * The simulator: one printer (device runtime + its NVRAM + the msal-node and nodemailer adapters) and, in twin mode,
 * the embedded Microsoft twin, all on one clock. `mfp-sim start`, the scenario runner, the panel, the model-based
 * tests and the fleet all build on this; nothing else wires devices to clouds.
 */
import type { Clock, VirtualClock } from '../time/clock.ts';
import type { Device } from '../device/device.ts';
import type { ClockService } from '../device/clockService.ts';
import type { TrustStore } from '../device/trustStore.ts';
import type { Printer } from '../device/printer.ts';
import type { Twin } from '../cloud/twin.ts';
import type { Logger } from '../log/logger.ts';
import type { DevicePorts, TokenCacheStore } from '../device/ports.ts';
import type { MicrosoftBench } from '../adapters/config.ts';
import type { TrustContextCache } from '../adapters/tls/deviceTls.ts';
import type { PayloadBuffers } from '../nvram/index.ts';

export type CloudChoice =
  | {
      mode: 'twin';
      tenantFile?: string;
      host?: string;
      entraPort?: number;
      smtpPort?: number;
      seed?: number;
      /** The app registration the device signs in with (default: the fixture's first app, "Scan to Email"). */
      clientId?: string;
      /** Wire journal ring size of the embedded twin (default 10 000 entries; a long soak judged whole needs more). */
      journalCapacity?: number;
      /**
       * Wall-time pause before each SMTP greeting of the embedded twin (default 100 ms: smtp-server's early-talker
       * check, as a real server). A simulation choice: soaks and fleets use 0, since it is pure waiting per mail.
       */
      smtpGreetingDelayMs?: number;
      /** The embedded twin's bench DNS responder (src/cloud/dns): port (0 = ephemeral) and answer addresses. */
      dns?: { port: number; addresses?: readonly string[] };
      /** Bound beyond loopback: the control API token to use instead of a generated one. */
      controlToken?: string;
    }
  /**
   * Real Microsoft: login.microsoftonline.com/<tenant> and smtp.office365.com:587. `bench`: where those names resolve,
   * an extra CA and other ports, for a bench that serves Microsoft's names (the twin run standalone).
   */
  | { mode: 'microsoft'; tenant: string; clientId: string; bench?: MicrosoftBench };

export interface SimulatorOptions {
  /** Holds nvram.json, secure-element.key, spool/, and the twin's certificates under cloud/. */
  stateDir: string;
  /** 'virtual' (default for tests and scenarios) or 'real'; or a clock to share (fleet: many devices, one clock). */
  clock?: 'real' | 'virtual' | Clock;
  cloud?: CloudChoice;
  /** An already running twin to use instead of starting one (fleet: many devices, one twin). */
  twin?: Twin;
  /**
   * TLS contexts shared by the printers of one process, one per trust store content (fleet slices, storms): what
   * a real process would share, while each printer keeps its own store, clock and check. Absent = the printer's own.
   */
  tlsContexts?: TrustContextCache;
  /**
   * Spare NVRAM payload buffers shared by the printers of one process (fleet slices, storms), like the TLS contexts:
   * each printer still keeps its own last committed payload. Absent = the printer's own.
   */
  payloadBuffers?: PayloadBuffers;
  logger?: Logger;
  /** NVRAM capacity in bytes (default 64 KiB). */
  /**
   * Retry jitter, a device setting (off by default): each retry delay drawn from [base × (1 − fraction), base]
   * with a generator seeded by `seed` (so a simulation replays). See src/device/backoff.ts.
   */
  retryJitter?: { fraction: number; seed: number } | null;
  nvramCapacityBytes?: number;
  /**
   * Wraps the device's ports at every boot: model-based tests hold effects on gates and inject deliberate faults
   * (a classifier that lies, a token cache that forgets) here, around the real adapters.
   */
  wrapPorts?: (build: (tokenCache: TokenCacheStore) => DevicePorts) => (tokenCache: TokenCacheStore) => DevicePorts;
  /**
   * Wait after each boot until the work it started (a job back from the spool, a refresh) has finished (default
   * true). Tests that hold effects on gates settle themselves and pass false.
   */
  settleOnBoot?: boolean;
  /**
   * NTP for a printer whose NVRAM holds no clock settings yet (factory default false, as many printers ship; the
   * admin turns it on in the panel). In twin mode the printer's NTP server is the twin's.
   */
  ntpByDefault?: boolean;
}

export interface Simulator {
  readonly clock: Clock;
  /** The same clock when it is virtual (null on a real clock). */
  readonly virtualClock: VirtualClock | null;
  /** The embedded twin (null against real Microsoft, or when the twin is shared and owned by someone else). */
  readonly twin: Twin | null;
  /** The current printer's time keeping (RTC, NTP, date/time settings); replaced at each boot like `device`. */
  readonly deviceClock: ClockService;
  /** The current printer's TLS trust store (NVRAM); replaced at each boot like `device`. */
  readonly trustStore: TrustStore;
  /** The current device; a power cycle replaces it, so always read it through this getter. */
  readonly device: Device;
  /** The same printer behind the one interface every face uses (src/device/printer.ts); it outlives power cycles. */
  readonly printer: Printer;
  readonly stateDir: string;
  /** Moves a virtual clock, letting the device finish what each fired deadline started before time moves on. */
  advance(ms: number): Promise<void>;
  /**
   * Stops the current device's work — timers stop, work in flight is abandoned, nothing is written — and closes
   * nothing: a harness holding effects on gates halts before it lets them go, so that the device ignores what their
   * abandonment reports; then it power cycles or closes.
   */
  halt(): void;
  /** Power off (abandon in-flight work, no write), leave it off for `offMs` of clock time, boot from the same NVRAM. */
  powerCycle(offMs?: number): Promise<Device>;
  /** Called with the new device after every boot (the panel re-subscribes to it). */
  onBoot(listener: (device: Device) => void): () => void;
  close(): Promise<void>;
}
