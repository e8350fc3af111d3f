/**
 * The firmware runtime of one printer's OAuth scan-to-email feature: what the pure statechart
 * (machines/oauthDevice.ts) leaves out — time, I/O and durability. This file wires the rooms together:
 *  - dispatch.ts  events one at a time, each step committed to NVRAM in one write before anyone sees it;
 *  - records.ts   job records and log entries that follow from the step's declared actions;
 *  - effects.ts   network work started after the commit, and each outcome (or typed failure) as an event;
 *  - deadlines.ts which deadlines a state listens for (armed on scheduler.ts), and which passed while off;
 *  - boot.ts      the snapshot to start from, and the structured boot report;
 *  - spoolKeeper.ts  done records, deferred deletion and the boot's reconciliation of the spool (reconcile.ts);
 *  - jobs.ts      job intake, the job pump (the next queued job to the statechart when it can take one), job views.
 * No module-level state: every device is an independent object over its own NVRAM and spool.
 */
import { randomUUID } from 'node:crypto';
import { freeze } from 'immer';
import type { DeviceEvent, LeafState } from '../../machines/oauthDevice.ts';
import type { Clock } from '../time/clock.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import type { Nvram } from '../nvram/index.ts';
import { defaultSmtpSettings, type JobRecord, type SealedBlob, type SmtpSettings } from '../nvram/schema.ts';
import { Scheduler } from './scheduler.ts';
import { accessDeadlinePassed, armedDeadlines, type DeadlineEvent, type Deadlines } from './deadlines.ts';
import { isGone, Spool } from './spool.ts';
import type { SpoolIo } from './spool-io.ts';
import { StorageFaultError, StorageFaults } from './storage-fault.ts';
import { spoolKeeper } from './spoolKeeper.ts';
import { DeviceInputError, parseOperatorEvent, parseOrThrow, smtpSettingsSchema, type JobRequest } from './validation.ts';
import { createJobs } from './jobs.ts';
import type { DevicePorts, TokenCacheStore } from './ports.ts';
import { Dispatcher, persistedSnapshot, TOKEN_CACHE_SECRET, type StepDone } from './dispatch.ts';
import { createEffects } from './effects.ts';
import type { RetryJitter } from './backoff.ts';
import { bootReport, discardUnopenableSecrets, freshBootMessage, isObject, powerCycleEvent, restoreSnapshot, snapshotFromSettings } from './boot.ts';
import type { BootReason, BootReport, DispatchResult, EventLogEntry, NvramHealth, NvramReadBack, PrinterIdentity, PrinterStatus, TransitionNotice } from './printer.ts';
import { adminCredential, type AdminCredentialOps } from './admin.ts';
import { changedSecrets, lifecycleSettings, parseSettingsInput, sealCredentials } from './credentials.ts';
import { nvramHealth, redactedContent, tokenTexts } from './storage.ts';
import { inspectImage } from '../nvram/inspect.ts';
import { CURRENT_FIRMWARE } from '../nvram/schema.ts';

export { TOKEN_CACHE_SECRET };
export type { DeadlineEvent, DispatchResult, TransitionNotice };
export type DeviceStatus = PrinterStatus;

export interface DeviceOptions {
  nvram: Nvram;
  clock: Clock;
  /** Builds the ports; the token cache store is how the OAuth adapter reads and stages the sealed MSAL cache. */
  ports: (tokenCache: TokenCacheStore) => DevicePorts;
  spoolDir: string;
  /** The spool's disk. Default: real files (a failing disk in the I/O-fault tests). */
  spoolIo?: SpoolIo;
  logger?: Logger;
  /** Retry jitter (backoff.ts), a device setting; absent: off. */
  retryJitter?: RetryJitter | null;
}

/** One boot of the runtime (a power cycle makes a new one over the same NVRAM). */
export interface Device {
  readonly id: string;
  readonly nvram: Nvram;
  state(): LeafState;
  status(): DeviceStatus;
  settings(): SmtpSettings;
  /** Whether the statechart takes an event of this type now. */
  can(eventType: DeviceEvent['type']): boolean;
  /** Operator events: START_AUTH, CANCEL_AUTH, SIGN_OUT, RETRY, DISMISS, FACTORY_RESET. */
  send(event: unknown): Promise<DispatchResult>;
  /** Validates and saves the SMTP settings, and tells the statechart (one NVRAM write for both). */
  saveSettings(input: unknown): Promise<DispatchResult>;
  /** Makes a job durable (content in the spool, record in NVRAM), then acknowledges it. */
  submitJob(input: JobRequest | unknown): Promise<JobRecord>;
  jobs(): JobRecord[];
  job(id: string): JobRecord | undefined;
  deadlines(): Deadlines;
  identity(): PrinterIdentity;
  eventLog(): EventLogEntry[];
  nvramHealth(): NvramHealth;
  /** Inspection of the stored image (a simulator capability): content read back from the medium, secrets redacted. */
  inspectImage(): Promise<NvramReadBack>;
  /** The current content with secrets redacted. */
  nvramContent(): Record<string, unknown>;
  /**
   * Token strings in the sealed MSAL cache (read through the vault, in memory only), so a secrecy check can search
   * the image and the logs for them. A simulator capability: never sent to a page or an API answer.
   */
  heldTokenTexts(): string[];
  /** The administrator password, checked and changed as an operation of the device. */
  readonly admin: AdminCredentialOps;
  /** How this boot went, with the transitions it made before the device first settled (idle()). */
  bootReport(): BootReport;
  subscribe(listener: (t: TransitionNotice) => void): () => void;
  /** Resolves when no event is queued and no effect is in flight (tests, the virtual clock's settle step). */
  idle(): Promise<void>;
  /** Resolves when no event is queued; effects in flight are not waited for (a call held at a gate stays held). */
  eventsDrained(): Promise<void>;
  /** Power off: stops timers and abandons effects; writes nothing. The NVRAM stays open for the caller to close. */
  stop(): void;
}

export async function createDevice(opts: DeviceOptions): Promise<Device> {
  const { nvram, clock } = opts;
  const log = (opts.logger ?? silentLogger()).child({ device: nvram.data.device.id });
  const spool = new Spool(opts.spoolDir, opts.spoolIo);
  const listeners = new Set<(t: TransitionNotice) => void>();
  const bootAt = clock.now();
  const bootTransitions: TransitionNotice[] = [];
  let booting = true;
  /** The boot's reconciliation of the spool (below): its reason, and whether it is still owed (the queue waits). */
  let reconciled: BootReason | null = null;
  let reconcileOwed = true;

  // ---- boot: the snapshot to start from
  const storedSnapshot = nvram.data.snapshot;
  const restored = restoreSnapshot(storedSnapshot, bootAt);
  const start = restored ?? { snapshot: snapshotFromSettings(nvram.data.settings.smtp, (name) => nvram.secrets.has(name)), since: bootAt };
  const storage = new StorageFaults({
    clock,
    log,
    enqueue: (fn) => core.enqueue(fn),
    probeSpool: async () => {
      const probe = `probe-${randomUUID()}`;
      try {
        await spool.write(probe, { to: [], subject: '', text: '', attachments: [] }).catch((err: unknown) => {
          throw storage.failed(err, 'spool', 'write');
        });
        // A disk that writes but cannot read has not recovered from a read fault.
        await spool.read(probe).catch((err: unknown) => {
          throw storage.failed(err, 'spool', 'read');
        });
      } finally {
        await spool.retire(probe).catch(() => undefined); // left over: garbage the boot reconciliation removes
      }
      storage.spoolWorked();
    },
    commitLog: () => core.commit(() => {}),
  });
  const core: Dispatcher = new Dispatcher({ nvram, clock, log, ...start, storage, afterStep, alongsideSent: (jobs) => keeper.recordSent(jobs) });

  /**
   * Work from inside the device (a deadline, the job pump, a boot step, run in the queue): nobody awaits it, so a
   * failing disk keeps it for the storage retry; any other error is logged.
   */
  async function internal(key: string, work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (err) {
      if (err instanceof StorageFaultError) storage.defer(key, work);
      else log.error({ key, err }, 'internal step failed');
    }
  }
  // The spool's side of the job records: done records, deferred retirement, boot reconciliation.
  const keeper = spoolKeeper({ spool, nvram, clock, log, commit: (mutate) => core.commit(mutate) });
  const jobs = createJobs({ nvram, clock, core, spool, keeper, storage, internal, reconciling: () => reconcileOwed });
  const startState = core.leaf();
  const stateBefore = restored ? startState : null;

  /**
   * The committed token cache, opened once per sealed blob: msal-node reads the cache several times per refresh and
   * the mail path once per mail, and between commits that change it the blob is the same (an AES-GCM blob with the
   * same key id, IV and tag cannot open to anything else).
   */
  let opened: { blob: SealedBlob; text: string } | null = null;
  const committedTokenCache = (): string | undefined => {
    const blob = Object.hasOwn(nvram.data.secrets, TOKEN_CACHE_SECRET) ? nvram.data.secrets[TOKEN_CACHE_SECRET] : undefined;
    if (!blob) return undefined;
    if (opened && sameBlob(opened.blob, blob)) return opened.text;
    const text = nvram.secrets.get(TOKEN_CACHE_SECRET);
    // One that does not open now is asked again next time (a key file that could not be read may read later).
    opened = text === undefined ? null : { blob, text };
    return text;
  };
  /** The token strings of the last cache read for a secret audit (one audit per transition reads the same cache). */
  let audited: { text: string; tokens: string[] } | null = null;
  const heldTokenTexts = (): string[] => {
    const text = committedTokenCache();
    if (text === undefined) return [];
    if (audited?.text !== text) audited = { text, tokens: tokenTexts(text) };
    return [...audited.tokens];
  };
  const tokenCache: TokenCacheStore = {
    load: () => (core.staged === undefined ? committedTokenCache() : (core.staged ?? undefined)),
    stage: (serialized) => {
      // Only work the device is still waiting for may change the tokens: a cancelled sign-in that completes inside
      // msal-node after all must not slip its tokens into the next commit.
      if (!effects.awaitingTokens()) {
        log.debug('ignoring a token cache change from abandoned work');
        return;
      }
      core.staged = serialized;
    },
  };
  const effects = createEffects({
    ports: opts.ports(tokenCache),
    clock,
    log,
    enqueue: (fn) => core.enqueue(fn),
    track: (p) => core.track(p),
    apply: (event) => core.apply(event),
    defer: (key, work) => storage.defer(key, work),
    dropStaged: () => (core.staged = undefined),
    context: () => core.snapshot.context,
    job: (id) => nvram.data.spool.find((j) => j.id === id),
    readContent: (id) =>
      spool.read(id).then(
        (content) => (storage.spoolWorked('read'), content),
        (err: unknown) => {
          throw isGone(err) ? err : storage.failed(err, 'spool', 'read');
        },
      ),
    smtp: () => nvram.data.settings.smtp,
    secret: (name) => nvram.secrets.get(name),
    jitter: opts.retryJitter ?? null,
  });
  const scheduler = new Scheduler(clock, (event) => void core.enqueue(() => internal(`deadline:${event}`, () => core.apply({ type: event }))));

  const buildStatus = (storageFault: DeviceStatus['storageFault']): DeviceStatus => {
    const c = core.snapshot.context;
    return frozenCopy({
      state: core.leaf(),
      since: core.since,
      account: c.account,
      userCode: c.userCode,
      verificationUri: c.verificationUri,
      expiresAt: c.codeExpiresAt,
      tokenExpiresAt: c.accessTokenExpiresAt,
      lastError: c.lastError,
      jobId: c.jobId,
      retryAt: c.retryAt,
      storageFault,
    });
  };
  // A step replaces the snapshot (and `since` with it); a failing disk changes its fault in place, so while there is
  // one the status is built at each read.
  const healthyStatus = oncePerChange(() => [core.snapshot, core.since], () => buildStatus(null));
  const status = (): DeviceStatus => {
    const fault = storage.current();
    return fault ? buildStatus(fault) : healthyStatus();
  };

  async function afterStep(done: StepDone): Promise<void> {
    effects.leftState(done.to);
    if (done.stateChanged || done.contextChanged) {
      const err = done.next.context.lastError;
      const reason = err && err !== done.prev.context.lastError ? err.reason : null;
      const notice: TransitionNotice = { at: clock.now(), from: done.from, to: done.to, event: done.event.type, reason, status: status() };
      if (booting) bootTransitions.push(notice);
      for (const l of listeners) {
        try {
          l(notice);
        } catch (err) {
          log.warn({ err }, 'transition listener threw');
        }
      }
    }
    for (const id of done.finishedJobs) await keeper.finished(id);
    effects.run(done.actions, done.next.context);
    rearm();
    jobs.schedulePump();
    // After the effects start: removing retired spool files is garbage collection, and the network work overlaps it.
    await keeper.retireDue();
  }

  // ---- deadlines
  function rearm(): void {
    if (!core.stopped) scheduler.arm(armedDeadlines(core.snapshot));
  }

  // ---- boot: secrets a changed device key cannot open go with the boot's first write (see discardUnopenableSecrets)
  // Only those the usable key provably cannot open: a key file that could not be read may read next time.
  const unopenable = nvram.boot.keyChanged ? nvram.secrets.unreadable().filter((u) => u.lost).map((u) => u.name) : [];
  const discard = discardUnopenableSecrets(unopenable, bootAt);
  if (discard) log.warn({ secrets: unopenable }, 'device key changed: discarding the sealed secrets it cannot open');

  // ---- boot: commit a snapshot built from the settings
  if (!restored) {
    if (storedSnapshot !== null) log.warn('stored snapshot unreadable; booting from settings');
    const message = freshBootMessage(storedSnapshot !== null, core.leaf());
    await internal('boot', () =>
      core.commit((draft) => {
        discard?.(draft);
        draft.snapshot = persistedSnapshot(core.snapshot, core.since);
        draft.eventLog.push({ at: bootAt, kind: 'boot', message });
      }),
    );
  }
  // Before the POWER_CYCLE below, so that the statechart resumes with records that agree with the spool. A disk that
  // cannot read the spool reports the fault, and the reconciliation waits for the storage retry; so does the queue,
  // since a job sent before it could be one the spool says was sent already.
  const reconcile = async () => {
    try {
      reconciled = await keeper.reconcileAtBoot();
    } catch (err) {
      const failed = storage.failed(err, 'spool', 'read');
      if (failed instanceof StorageFaultError) throw failed;
      log.error({ err }, 'spool reconciliation failed'); // not the disk: it would fail the same way again
    }
    reconcileOwed = false;
  };
  // It throws only a StorageFaultError (anything else is logged inside): the retry runs it again, after the boot's
  // POWER_CYCLE, so it does what the boot does after that step too.
  await reconcile().catch(() =>
    storage.defer('reconcile', async () => {
      await reconcile();
      await releaseParkedQueue();
      jobs.schedulePump();
    }),
  );

  /**
   * In the queue, after the POWER_CYCLE: the older bank parked the queue in sendFailure on a job the spool says was
   * dismissed (or sent) since. That was the operator's DISMISS, already done once; do it again rather than show a
   * failure that is over.
   */
  async function releaseParkedQueue(): Promise<void> {
    const parked = core.snapshot.context.jobId;
    if (reconciled && core.leaf() === 'sendFailure' && parked && !nvram.data.spool.some((j) => j.id === parked)) {
      await internal('boot-dismiss', () => core.apply({ type: 'DISMISS' }));
    }
  }

  const device: Device = {
    id: nvram.data.device.id,
    nvram,
    state: () => core.leaf(),
    status,
    settings: () => ({ ...nvram.data.settings.smtp }),
    can: (type) => core.snapshot.can({ type } as DeviceEvent),
    send: async (input) => {
      const event = parseOperatorEvent(input);
      if (event.type !== 'FACTORY_RESET') return core.dispatch(event);
      const ids = nvram.data.spool.map((j) => j.id);
      const result = await core.dispatch(event, (draft) => {
        draft.settings.smtp = defaultSmtpSettings();
        draft.spool = [];
        draft.jobLog = [];
        draft.eventLog.push({ at: clock.now(), kind: 'factory-reset', message: 'factory reset: settings, jobs and tokens erased' });
      });
      // Their content goes once no bank can still point at them (the older bank still holds them until the next commit).
      if (result.accepted) keeper.retireLater(ids);
      return result;
    },
    saveSettings: async (input) => {
      if (!isObject(input)) throw new DeviceInputError('invalid SMTP settings: expected an object', { '(body)': 'must be an object' });
      // The password and the client secret travel with the form but are sealed, never stored with the settings.
      const { settings, credentials } = parseSettingsInput(nvram.data.settings.smtp, input);
      const changing = new Set(changedSecrets(credentials).map((s) => s.name));
      const event: DeviceEvent = { type: 'SAVE_SETTINGS', settings: lifecycleSettings(settings, (name) => changing.has(name) || nvram.secrets.has(name)) };
      return core.dispatch(event, (draft, vault) => {
        draft.settings.smtp = settings;
        const sealed = sealCredentials(vault, credentials);
        const note = sealed.length ? `; sealed ${sealed.join(', ')}` : '';
        draft.eventLog.push({ at: clock.now(), kind: 'settings', message: `SMTP settings saved (method ${settings.authMethod}${note})` });
      });
    },
    submitJob: (input) => jobs.submit(input),
    jobs: () => jobs.list(),
    job: (id) => jobs.get(id),
    deadlines: () => scheduler.pending(),
    identity: () => ({ id: nvram.data.device.id, serial: nvram.data.device.serial, model: 'mfp-oauth-sim', firmware: CURRENT_FIRMWARE }),
    eventLog: () => nvram.data.eventLog.map((e) => ({ ...e, ...(e.data ? { data: { ...e.data } } : {}) })),
    nvramHealth: () => nvramHealth(nvram),
    nvramContent: () => redactedContent(nvram),
    inspectImage: async () => {
      const image = await inspectImage(nvram.stats().file);
      const secrets = (image.current as { secrets?: Record<string, unknown> } | null)?.secrets;
      return { valid: image.valid, reason: image.reason, content: image.current, tokenCache: secrets !== undefined && TOKEN_CACHE_SECRET in secrets };
    },
    heldTokenTexts,
    admin: adminCredential(() => nvram.data, (mutate) => core.enqueue(() => core.commit(mutate))),
    // What the NVRAM found is settled before the device exists; the boot's transitions and its reconciliation come later.
    bootReport: oncePerChange(() => [bootTransitions.length, reconciled], () =>
      frozenCopy(bootReport({
        at: bootAt,
        nvram: nvram.boot,
        snapshot: restored ? 'restored' : storedSnapshot === null ? 'none' : 'unreadable',
        stateBefore,
        stateAfter: bootTransitions.at(-1)?.to ?? startState,
        transitions: [...bootTransitions],
        extra: reconciled ? [reconciled] : [],
      }))),
    subscribe: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    idle: async () => {
      await core.idle();
      booting = false; // the boot's transitions are those before the device first settles
    },
    eventsDrained: () => core.eventsDrained(),
    stop: () => {
      core.stopped = true;
      scheduler.stop();
      storage.stop();
      effects.abandonAll();
    },
  };

  if (restored) {
    // Computed when it runs: a POWER_CYCLE the disk made wait sees the time it is applied at.
    const powerCycle = () => core.apply(powerCycleEvent(accessDeadlinePassed(core.snapshot.context, clock.now()), nvram.boot), discard);
    await core.enqueue(() => internal('boot', powerCycle));
    await core.enqueue(releaseParkedQueue);
  } else {
    rearm();
    jobs.schedulePump();
  }
  // A bank the NVRAM fell back from (torn by a power cut or a failing disk) is rewritten at once, with its
  // nvram.recovered line: left for the next change, every boot until then would report the same fallback again.
  if (core.commits === 0 && nvram.boot.findings.some((f) => f.code === 'bank-invalid')) await core.enqueue(() => internal('boot-repair', () => core.commit(() => {})));
  return device;
}

/**
 * What faces read over and over (the status, the boot report) is a deep-frozen copy made once per change, handed to
 * every reader as is: no reader can change the device through it, and a panel polled by a script does not pay for
 * a deep copy per request.
 */
function frozenCopy<T>(value: T): T {
  return freeze(structuredClone(value), true);
}

/** `build()`'s last result, built again only when one of the values `inputs()` names is not the same as before. */
function oncePerChange<T>(inputs: () => readonly unknown[], build: () => T): () => T {
  let last: { inputs: readonly unknown[]; value: T } | null = null;
  return () => {
    const now = inputs();
    if (!last || now.length !== last.inputs.length || now.some((v, i) => v !== last!.inputs[i])) last = { inputs: now, value: build() };
    return last.value;
  };
}

function sameBlob(a: SealedBlob, b: SealedBlob): boolean {
  return a === b || (a.kid === b.kid && a.iv === b.iv && a.tag === b.tag && a.ct === b.ct);
}
