/**
 * The simulator's printer behind the one printer interface (src/device/printer.ts): what a face or tool may do to a
 * simulated printer and see of it, as plain data. It follows the simulator across power cycles (each boot makes a
 * new runtime) and declares what only a simulator can offer: a virtual clock, the raw NVRAM image, power control.
 */
import { createHash } from 'node:crypto';
import { damageDeviceKey } from './device-key-fault.ts';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Device } from '../device/device.ts';
import type { BootReport, Printer, TransitionNotice } from '../device/printer.ts';
import type { Simulator } from './types.ts';

/** What `localPrinter` needs of a simulator (test fakes around a device harness offer the same). */
export type PrinterHost = Pick<Simulator, 'device' | 'virtualClock' | 'stateDir' | 'advance' | 'powerCycle' | 'onBoot'> & Partial<Pick<Simulator, 'trustStore'>>;

export interface LocalPrinterOptions {
  /**
   * How `clock.advance` settles after each fired deadline: 'bounded' (default) waits up to HELD_EFFECT_WAIT_MS for
   * effects in flight (a black-box harness may hold a call at the twin); 'full' waits until the printer is quiet, as
   * `sim.advance` does (an in-process tool that holds nothing, such as the scenario runner).
   */
  advanceSettles?: 'bounded' | 'full';
}

export function localPrinter(sim: PrinterHost, opts: LocalPrinterOptions = {}): Printer {
  const device = (): Device => sim.device;
  // The device's status and boot report are deep-frozen copies made once per change (src/device/device.ts): they are
  // handed out as they are, with nothing to copy per call.
  const listeners = new Set<(n: TransitionNotice) => void>();
  const bootListeners = new Set<(r: BootReport) => void>();
  // The secret audit's memory of every token held since watch(): in this closure, never handed out.
  let watchedTokens: Set<string> | null = null;
  let revision: { salt: string; tag: string } | null = null;
  const forward = (n: TransitionNotice) => {
    if (watchedTokens) for (const t of device().heldTokenTexts()) watchedTokens.add(t);
    listeners.forEach((l) => l(n));
  };
  let unsubscribe = device().subscribe(forward);
  sim.onBoot((d) => {
    unsubscribe();
    unsubscribe = d.subscribe(forward);
    const report = d.bootReport();
    bootListeners.forEach((l) => l(report));
  });
  const clock = sim.virtualClock;
  const imageText = async () => (await readFile(path.join(sim.stateDir, 'nvram.json'))).toString('latin1');
  return {
    capabilities: { clock: clock !== null, nvramImage: true, effectHolds: false, power: true, secretAudit: true, trustStore: 'trustStore' in sim },
    saveSettings: async (input) => device().saveSettings(input),
    send: async (event) => device().send(event),
    submitJob: async (input) => device().submitJob(input),
    identity: async () => device().identity(),
    status: async () => device().status(),
    settings: async () => device().settings(),
    can: async (type) => device().can(type),
    jobs: async () => device().jobs(),
    job: async (id) => device().job(id),
    eventLog: async () => device().eventLog(),
    bootReport: async () => device().bootReport(),
    nvramHealth: async () => device().nvramHealth(),
    subscribe: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    onBoot: (l) => {
      bootListeners.add(l);
      return () => bootListeners.delete(l);
    },
    idle: () => device().idle(),
    eventsDrained: () => device().eventsDrained(),
    admin: {
      check: (password) => device().admin.check(password),
      change: (password) => device().admin.change(password),
      ensure: (explicit) => device().admin.ensure(explicit),
      // A digest of the salt: new with every stored hash, and telling nothing about the password. Digested again
      // only for another salt (a panel asks at every Basic request).
      revision: async () => {
        const h = device().admin.stored();
        if (!h) return null;
        if (revision?.salt !== h.salt) revision = { salt: h.salt, tag: createHash('sha256').update(h.salt).digest('base64url') };
        return revision.tag;
      },
    },
    ...(clock
      ? {
          clock: {
            now: async () => clock.now(),
            // Settles after each timer like sim.advance, but does not wait on a call held at the twin (a black-box
            // harness moves the clock while the printer sits in requestingCode, refreshing or sending): effects
            // still in flight after HELD_EFFECT_WAIT_MS of wall time are left running.
            advance: async (ms: number) => {
              if (opts.advanceSettles === 'full') return sim.advance(ms);
              const settle = () => boundedWait(device().idle(), HELD_EFFECT_WAIT_MS);
              await clock.advance(ms, settle);
              await settle();
            },
            deadlines: async () => device().deadlines(),
          },
        }
      : {}),
    nvramImage: {
      image: imageText,
      content: async () => device().nvramContent(),
      readBack: async () => device().inspectImage(),
    },
    secretAudit: {
      watch: async () => {
        watchedTokens ??= new Set();
      },
      check: async () => {
        const tokens = new Set([...(watchedTokens ?? []), ...device().heldTokenTexts()]);
        const image = await imageText();
        return { tokens: tokens.size, inImage: [...tokens].filter((t) => image.includes(t)).length };
      },
    },
    ...('trustStore' in sim
      ? {
          // Read through the getter at each call: every boot has its own store object over the same NVRAM.
          trustStore: {
            list: async () => sim.trustStore!.list(),
            importPem: async (pem: string) => sim.trustStore!.importPem(pem),
            remove: async (fingerprint: string) => sim.trustStore!.remove(fingerprint),
          },
        }
      : {}),
    power: {
      deviceKeyLoss: true,
      powerCycle: async (offMs = 0, o) => {
        // The running device read its key at boot and does not read it again: damaging it now is what the next boot sees.
        if (o?.deviceKey) await damageDeviceKey(path.join(sim.stateDir, 'nvram.json'), o.deviceKey);
        return (await sim.powerCycle(offMs)).bootReport();
      },
    },
  };
}

/** How long the driver's clock advance waits for effects in flight before it answers (see `clock.advance`). */
const HELD_EFFECT_WAIT_MS = 250;

async function boundedWait(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
