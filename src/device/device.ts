/**
 * The firmware runtime of one printer's OAuth scan-to-email feature.
 *
 * It owns what the pure statechart (machines/oauthDevice.ts) leaves out: time, I/O and durability.
 *  - Dispatch: events are applied one at a time (a promise queue) with xstate's pure `transition`.
 *  - Persistence: each transition that changes anything persisted — the snapshot, a job record, the token cache —
 *    is committed to NVRAM in exactly one write, before anyone sees the new state; a transition that changes nothing
 *    persisted writes nothing. If the write fails, the transition did not happen.
 *  - Effects: after the commit, the network work the machine asked for on state entry (request a code, refresh,
 *    submit) starts through the ports; its outcome comes back as an event. Outcomes of abandoned work are dropped.
 *  - Scheduler: deadlines in context become events on the injected clock.
 *  - Boot: restore the snapshot from NVRAM and send POWER_CYCLE first, so nothing waits for an outcome that died
 *    with the power.
 * No module-level state: every device is an independent object over its own NVRAM and spool.
 */
import { randomUUID } from 'node:crypto';
import { transition, type SnapshotFrom } from 'xstate';
import {
  oauthDeviceMachine as machine,
  initialContext,
  isCompleteOAuth,
  leafState,
  type DeviceContext,
  type DeviceEvent,
  type LastError,
  type LeafState,
} from '../../machines/oauthDevice.ts';
import type { Clock } from '../time/clock.ts';
import type { Logger } from '../log/logger.ts';
import { silentLogger } from '../log/logger.ts';
import type { Nvram } from '../nvram/index.ts';
import { defaultSmtpSettings, type JobRecord, type NvramData, type SmtpSettings } from '../nvram/schema.ts';
import { ACCESS_TOKEN_SKEW_MS, retryDelayMs } from './backoff.ts';
import { Scheduler, type DeadlineEvent, type Deadlines } from './scheduler.ts';
import { Spool } from './spool.ts';
import {
  DeviceInputError,
  jobRequestSchema,
  parseOperatorEvent,
  parseOrThrow,
  smtpSettingsSchema,
  type JobRequest,
} from './validation.ts';
import {
  RefreshFailure,
  SendFailure,
  SignInFailure,
  type CancelHandle,
  type DevicePorts,
  type TokenCacheStore,
} from './ports.ts';

type Snapshot = SnapshotFrom<typeof machine>;

/** Name of the sealed secret holding the serialized MSAL token cache. */
export const TOKEN_CACHE_SECRET = 'msal-cache';
const JOB_LOG_LIMIT = 50;

export interface DeviceOptions {
  nvram: Nvram;
  clock: Clock;
  /** Builds the ports; the token cache store is how the OAuth adapter reads and stages the sealed MSAL cache. */
  ports: (tokenCache: TokenCacheStore) => DevicePorts;
  spoolDir: string;
  logger?: Logger;
}

export interface DeviceStatus {
  state: LeafState;
  since: number;
  account: string | null;
  userCode: string | null;
  verificationUri: string | null;
  expiresAt: number | null;
  tokenExpiresAt: number | null;
  lastError: LastError | null;
  jobId: string | null;
  retryAt: number | null;
}

export interface TransitionNotice {
  at: number;
  from: LeafState;
  to: LeafState;
  event: DeviceEvent['type'];
  status: DeviceStatus;
}

export interface DispatchResult {
  accepted: boolean;
  state: LeafState;
  /** Why an event was not taken (the state does not handle it). */
  reason?: string;
}

export interface Device {
  readonly id: string;
  readonly nvram: Nvram;
  state(): LeafState;
  status(): DeviceStatus;
  settings(): SmtpSettings;
  /** Operator events: START_AUTH, CANCEL_AUTH, SIGN_OUT, RETRY, DISMISS, FACTORY_RESET. */
  send(event: unknown): Promise<DispatchResult>;
  /** Validates and saves the SMTP settings, and tells the statechart (one NVRAM write for both). */
  saveSettings(input: unknown): Promise<DispatchResult>;
  /** Makes a job durable (content in the spool, record in NVRAM), then acknowledges it. */
  submitJob(input: JobRequest | unknown): Promise<JobRecord>;
  jobs(): JobRecord[];
  job(id: string): JobRecord | undefined;
  deadlines(): Deadlines;
  subscribe(listener: (t: TransitionNotice) => void): () => void;
  /** Resolves when no event is queued and no effect is in flight (tests, the virtual clock's settle step). */
  idle(): Promise<void>;
  /** Power off: stops timers and abandons effects; writes nothing. The NVRAM stays open for the caller to close. */
  stop(): void;
}

type Pending = string | null | undefined; // staged token cache: string = new cache, null = delete, undefined = nothing

export async function createDevice(opts: DeviceOptions): Promise<Device> {
  const { nvram, clock } = opts;
  const log = (opts.logger ?? silentLogger()).child({ device: nvram.data.device.id });
  const spool = new Spool(opts.spoolDir);

  let snapshot: Snapshot;
  let since = clock.now();
  let stagedCache: Pending = undefined;
  let stopped = false;
  let queue: Promise<unknown> = Promise.resolve();
  const inFlight = new Set<Promise<unknown>>();
  const listeners = new Set<(t: TransitionNotice) => void>();
  const effects: { signIn?: { id: number; cancel: () => void }; refresh?: number; submit?: number } = {};
  let effectSeq = 0;

  const tokenCache: TokenCacheStore = {
    load: () => (stagedCache === undefined ? nvram.secrets.get(TOKEN_CACHE_SECRET) : (stagedCache ?? undefined)),
    stage: (serialized) => {
      // Only work the device is still waiting for may change the tokens: a cancelled sign-in that completes inside
      // msal-node after all must not slip its tokens into the next commit.
      if (!effects.signIn && effects.refresh === undefined) {
        log.debug('ignoring a token cache change from abandoned work');
        return;
      }
      stagedCache = serialized;
    },
  };
  const ports = opts.ports(tokenCache);
  const scheduler = new Scheduler(clock, (event) => void dispatch({ type: event }));

  // ---------------------------------------------------------------- helpers
  const ctx = (): DeviceContext => snapshot.context;
  const leaf = (): LeafState => leafState(snapshot.value);
  const persistedSnapshot = (s: Snapshot, sinceAt: number) => ({ value: s.value, context: s.context, since: sinceAt });

  const status = (): DeviceStatus => {
    const c = ctx();
    return {
      state: leaf(),
      since,
      account: c.account,
      userCode: c.userCode,
      verificationUri: c.verificationUri,
      expiresAt: c.codeExpiresAt,
      tokenExpiresAt: c.accessTokenExpiresAt,
      lastError: c.lastError,
      jobId: c.jobId,
      retryAt: c.retryAt,
    };
  };

  /** Runs `fn` after everything queued before it; keeps `idle()` honest. */
  function enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    track(run);
    return run;
  }

  function track(p: Promise<unknown>): void {
    const settled = p.catch(() => undefined);
    inFlight.add(settled);
    void settled.then(() => inFlight.delete(settled));
  }

  function dispatch(event: DeviceEvent, extra?: (draft: NvramData) => void): Promise<DispatchResult> {
    return enqueue(() => apply(event, extra));
  }

  // ---------------------------------------------------------------- the transition step
  async function apply(event: DeviceEvent, extra?: (draft: NvramData) => void): Promise<DispatchResult> {
    if (stopped) return { accepted: false, state: leaf(), reason: 'device is powered off' };
    const prev = snapshot;
    const from = leaf();
    if (!prev.can(event)) {
      if (stagedCache !== undefined) await commit(() => {});
      log.debug({ event: event.type, state: from }, 'event not handled in this state');
      return { accepted: false, state: from, reason: `${event.type} is not handled in state ${from}` };
    }
    const [next, actions] = transition(machine, prev, event);
    const names = new Set<string>(actions.map((a) => a.type));
    const to = leafState(next.value);
    const stateChanged = to !== from || JSON.stringify(next.value) !== JSON.stringify(prev.value);
    const nextSince = stateChanged ? clock.now() : since;
    const contextChanged = JSON.stringify(next.context) !== JSON.stringify(prev.context);
    const finishedJobs: string[] = [];

    const mutate = (draft: NvramData) => {
      extra?.(draft);
      applyRecords(draft, prev, next, event, names, finishedJobs);
      draft.snapshot = persistedSnapshot(next, nextSince);
      if (stateChanged || names.has('holdJob')) {
        draft.eventLog.push({
          at: clock.now(),
          kind: 'transition',
          message: `${from} → ${to} on ${event.type}`,
          ...(next.context.lastError && next.context.lastError !== prev.context.lastError
            ? { data: { reason: next.context.lastError.reason, code: next.context.lastError.code } }
            : {}),
        });
      }
    };
    const recordsChange =
      extra !== undefined || stateChanged || contextChanged || stagedCache !== undefined ||
      ['holdJob', 'failJob', 'completeJob', 'requeueJob', 'deleteTokens'].some((n) => names.has(n)) ||
      to === 'sending';
    if (recordsChange) await commit(mutate, names.has('deleteTokens'));

    snapshot = next;
    since = nextSince;
    if (to !== 'refreshing') effects.refresh = undefined;
    if (to !== 'sending') effects.submit = undefined;
    log.info({ event: event.type, from, to, reason: next.context.lastError?.reason }, 'transition');
    if (stateChanged || contextChanged) {
      const notice: TransitionNotice = { at: clock.now(), from, to, event: event.type, status: status() };
      for (const l of listeners) {
        try {
          l(notice);
        } catch (err) {
          log.warn({ err }, 'transition listener threw');
        }
      }
    }
    for (const id of finishedJobs) await spool.remove(id).catch(() => undefined);
    runEffects(names, next);
    rearm();
    schedulePump();
    return { accepted: true, state: to };
  }

  /** One NVRAM write: the mutation plus any staged token cache. On failure nothing in memory changes either. */
  async function commit(mutate: (draft: NvramData) => void, deleteTokens = false): Promise<void> {
    const cache = deleteTokens ? null : stagedCache;
    await nvram.update((draft, vault) => {
      mutate(draft);
      if (cache === null) vault.delete(TOKEN_CACHE_SECRET);
      else if (cache !== undefined) vault.set(TOKEN_CACHE_SECRET, cache);
      trimLogs(draft);
    });
    stagedCache = undefined;
  }

  function trimLogs(draft: NvramData): void {
    if (draft.jobLog.length > JOB_LOG_LIMIT) draft.jobLog.splice(0, draft.jobLog.length - JOB_LOG_LIMIT);
  }

  /** The statechart's record actions, applied to the NVRAM draft of the same write. */
  function applyRecords(
    draft: NvramData,
    prev: Snapshot,
    next: Snapshot,
    event: DeviceEvent,
    names: Set<string>,
    finishedJobs: string[],
  ): void {
    const now = clock.now();
    const find = (id: string | null) => (id ? draft.spool.find((j) => j.id === id) : undefined);
    const finish = (job: JobRecord, status: 'sent' | 'failed', reply: string | null) => {
      job.status = status;
      job.reply = reply;
      job.updatedAt = now;
      draft.spool = draft.spool.filter((j) => j.id !== job.id);
      draft.jobLog.push(job);
      finishedJobs.push(job.id);
    };
    if (names.has('holdJob')) {
      const job = find(event.type === 'SEND' ? event.jobId : prev.context.jobId);
      if (job) {
        job.status = 'held';
        job.reply = holdReason(leafState(next.value), next.context.lastError);
        job.updatedAt = now;
      }
    }
    if (names.has('completeJob')) {
      const job = find(prev.context.jobId);
      if (job) finish(job, 'sent', event.type === 'SENT' ? event.reply : null);
    }
    if (names.has('failJob')) {
      const job = find(prev.context.jobId);
      if (job) finish(job, 'failed', prev.context.lastError?.reply ?? prev.context.lastError?.reason ?? 'dismissed');
    }
    if (names.has('requeueJob')) {
      const job = find(prev.context.jobId);
      if (job && job.status !== 'held') {
        job.status = 'queued';
        job.updatedAt = now;
      }
    }
    if (event.type === 'TOKEN_GRANTED' && leafState(next.value) === 'authorized') {
      // Held jobs were waiting for a sign-in: they go out now.
      for (const job of draft.spool) if (job.status === 'held') Object.assign(job, { status: 'queued', updatedAt: now });
    }
    if (leafState(next.value) === 'sending' && leafState(prev.value) !== 'sending') {
      const job = find(next.context.jobId);
      if (job) Object.assign(job, { status: 'sending', attempts: job.attempts + 1, updatedAt: now });
    }
    if (leafState(next.value) === 'sendFailure') {
      // Queued while an automatic retry is scheduled; held (waiting for the operator's Retry or Dismiss) otherwise.
      const job = find(next.context.jobId);
      const status = next.context.retryAt !== null ? 'queued' : 'held';
      if (job) Object.assign(job, { status, reply: next.context.lastError?.reply ?? null, updatedAt: now });
    }
  }

  // ---------------------------------------------------------------- effects
  function runEffects(names: Set<string>, next: Snapshot): void {
    if (names.has('cancelSignIn') && effects.signIn) {
      effects.signIn.cancel();
      effects.signIn = undefined;
    }
    if (names.has('requestDeviceCode')) startSignIn(next.context.account ?? '');
    if (names.has('refreshAccessToken')) startRefresh(next.context);
    if (names.has('submitJob')) startSubmit(next.context);
  }

  function outcome(kind: 'signIn' | 'refresh' | 'submit', id: number, event: DeviceEvent, final = true): void {
    void enqueue(async () => {
      const current = kind === 'signIn' ? effects.signIn?.id : effects[kind];
      if (current !== id) {
        log.debug({ kind, event: event.type }, 'dropping the outcome of abandoned work');
        return;
      }
      if (final) {
        if (kind === 'signIn') effects.signIn = undefined;
        else effects[kind] = undefined;
      }
      try {
        return await apply(event);
      } catch (err) {
        // The outcome could not be committed (NVRAM full, or failing): it did not happen. Say so, drop what it
        // staged, and end the work in a state the admin can see rather than waiting for an event that is gone.
        const message = (err as Error)?.message ?? String(err);
        log.error({ event: event.type, error: message }, 'could not commit an outcome to NVRAM');
        stagedCache = undefined;
        const failure = { reason: 'nvram-write-failed', code: (err as { code?: string })?.code ?? null, reply: message };
        if (kind === 'signIn' && event.type !== 'CODE_ISSUED') return apply({ type: 'POLL_FAILED', ...failure });
        if (kind === 'signIn') return apply({ type: 'CODE_FAILED', ...failure });
        if (kind === 'refresh') return apply({ type: 'REFRESH_FAILED', transient: true, retryAt: clock.now() + retryDelayMs(ctx().refreshRetries), ...failure });
        // A send whose acceptance cannot be recorded stays in the spool: it goes out again after a restart
        // (at-least-once, same Message-ID).
        throw err;
      }
    });
  }

  function startSignIn(account: string): void {
    const id = ++effectSeq;
    let cancelled = false;
    const cancelFns: (() => void)[] = [];
    const cancel: CancelHandle = {
      get cancelled() {
        return cancelled;
      },
      onCancel: (fn) => void cancelFns.push(fn),
    };
    effects.signIn = {
      id,
      cancel: () => {
        cancelled = true;
        for (const fn of cancelFns) fn();
      },
    };
    let codeIssued = false;
    // idle() waits for the code request, not for the person at the Microsoft page: polling is left out of it.
    let codePhaseDone!: () => void;
    track(new Promise<void>((resolve) => (codePhaseDone = resolve)));
    void ports.oauth
      .signIn({
        account,
        cancel,
        onCode: (code) => {
          codeIssued = true;
          codePhaseDone();
          outcome('signIn', id, {
            type: 'CODE_ISSUED',
            userCode: code.userCode,
            verificationUri: code.verificationUri,
            expiresAt: clock.now() + code.expiresInSeconds * 1000,
          }, false);
        },
      })
      .then(
        (grant) =>
          outcome('signIn', id, {
            type: 'TOKEN_GRANTED',
            account: grant.account,
            accessTokenExpiresAt: clock.now() + grant.accessTokenExpiresInMs,
          }),
        (err: unknown) => {
          const f =
            err instanceof SignInFailure
              ? err
              : new SignInFailure(codeIssued ? 'poll-failed' : 'code-request-failed', 'unexpected', null, String(err));
          const failure = { reason: f.reason, code: f.code, reply: f.reply };
          if (f.kind === 'cancelled') return;
          if (f.kind === 'code-request-failed' || !codeIssued) outcome('signIn', id, { type: 'CODE_FAILED', ...failure });
          else if (f.kind === 'declined') outcome('signIn', id, { type: 'AUTH_DECLINED', ...failure });
          else if (f.kind === 'expired') outcome('signIn', id, { type: 'CODE_EXPIRED', ...failure });
          else outcome('signIn', id, { type: 'POLL_FAILED', ...failure });
        },
      )
      .finally(() => codePhaseDone());
  }

  function startRefresh(c: DeviceContext): void {
    const id = ++effectSeq;
    effects.refresh = id;
    const work = ports.oauth.refresh({ account: c.account ?? '' }).then(
      (grant) =>
        outcome('refresh', id, { type: 'REFRESHED', accessTokenExpiresAt: clock.now() + grant.accessTokenExpiresInMs }),
      (err: unknown) => {
        const f = err instanceof RefreshFailure ? err : new RefreshFailure(true, 'unexpected', null, String(err));
        outcome('refresh', id, {
          type: 'REFRESH_FAILED',
          transient: f.transient,
          reason: f.reason,
          code: f.code,
          reply: f.reply,
          retryAt: f.transient ? clock.now() + retryDelayMs(c.refreshRetries, f.retryAfterMs) : null,
        });
      },
    );
    track(work);
  }

  function startSubmit(c: DeviceContext): void {
    const id = ++effectSeq;
    effects.submit = id;
    const jobId = c.jobId;
    const work = (async () => {
      const job = jobId ? nvram.data.spool.find((j) => j.id === jobId) : undefined;
      if (!job) throw new SendFailure('other', false, 'the job is no longer in the spool');
      let content;
      try {
        content = await spool.read(job.id);
      } catch {
        throw new SendFailure('other', false, 'the job content is missing from the spool');
      }
      const smtp = nvram.data.settings.smtp;
      const accessToken = await ports.oauth.accessToken({ account: c.account ?? '' }).catch((err: unknown) => {
        throw new SendFailure('auth-rejected', false, `no access token: ${String((err as Error)?.message ?? err)}`);
      });
      return ports.mail.submit({
        target: {
          host: smtp.smtpServerName,
          port: smtp.smtpPort,
          secure: smtp.useSecureConnection,
          user: smtp.authUsername,
        },
        accessToken,
        message: {
          messageId: job.messageId,
          from: smtp.adminEmailAddress || smtp.authEmailAddress,
          to: content.to,
          subject: content.subject,
          text: content.text,
          attachments: content.attachments,
        },
      });
    })().then(
      (r) => outcome('submit', id, { type: 'SENT', reply: r.reply }),
      (err: unknown) => {
        const f = err instanceof SendFailure ? err : new SendFailure('other', true, String(err));
        outcome('submit', id, {
          type: 'SEND_FAILED',
          category: f.category,
          transient: f.transient,
          reason: f.category,
          code: f.code,
          reply: f.reply,
          retryAt: f.transient ? clock.now() + retryDelayMs(c.sendRetries) : null,
        });
      },
    );
    track(work);
  }

  // ---------------------------------------------------------------- deadlines and the job pump
  function rearm(): void {
    if (stopped) return;
    const c = ctx();
    const d: Deadlines = {};
    if (c.codeExpiresAt !== null && snapshot.can({ type: 'CODE_DEADLINE' })) d.CODE_DEADLINE = c.codeExpiresAt;
    if (c.accessTokenExpiresAt !== null && snapshot.can({ type: 'ACCESS_TOKEN_DEADLINE' })) {
      d.ACCESS_TOKEN_DEADLINE = c.accessTokenExpiresAt - ACCESS_TOKEN_SKEW_MS;
    }
    if (c.retryAt !== null && snapshot.can({ type: 'RETRY_DUE' })) d.RETRY_DUE = c.retryAt;
    scheduler.arm(d);
  }

  let pumpScheduled = false;
  function schedulePump(): void {
    if (pumpScheduled || stopped) return;
    pumpScheduled = true;
    void enqueue(async () => {
      pumpScheduled = false;
      await pump();
    });
  }

  /** Hands the next queued job to the statechart when it can take one (or hold it, when it cannot send at all). */
  async function pump(): Promise<void> {
    if (stopped || ctx().jobId !== null) return;
    const next = nvram.data.spool.find((j) => j.status === 'queued');
    if (!next) return;
    const event: DeviceEvent = { type: 'SEND', jobId: next.id };
    if (!snapshot.can(event)) return; // busy (refreshing, sending, sendFailure): it waits its turn
    await apply(event);
  }

  // ---------------------------------------------------------------- boot
  const data = nvram.data;
  const restored = restoreSnapshot(data.snapshot);
  if (restored) {
    snapshot = restored.snapshot;
    since = restored.since;
  } else {
    const smtp = data.settings.smtp;
    const complete = isCompleteOAuth(smtp);
    snapshot = machine.resolveState({
      value: complete ? 'ready' : 'unconfigured',
      context: { ...initialContext(), account: complete ? smtp.authUsername.trim() : null },
    });
    if (data.snapshot !== null) log.warn('stored snapshot unreadable; booting from settings');
    await commit((draft) => {
      draft.snapshot = persistedSnapshot(snapshot, since);
      draft.eventLog.push({
        at: clock.now(),
        kind: 'boot',
        message:
          data.snapshot === null
            ? `first boot of the OAuth feature: ${leaf()}`
            : `stored state was unreadable; started in ${leaf()} from the settings`,
      });
    });
  }
  // Runs alongside the POWER_CYCLE below (awaited before the device is handed out): it removes only content that
  // has no job record at boot, and nothing can add a job before createDevice returns.
  const sweeping = spool.sweep(new Set(nvram.data.spool.map((j) => j.id)));

  const device: Device = {
    id: data.device.id,
    nvram,
    state: leaf,
    status,
    settings: () => ({ ...nvram.data.settings.smtp }),
    send: async (input) => {
      const event = parseOperatorEvent(input);
      if (event.type === 'FACTORY_RESET') {
        const ids = nvram.data.spool.map((j) => j.id);
        const result = await dispatch(event, (draft) => {
          draft.settings.smtp = defaultSmtpSettings();
          draft.spool = [];
          draft.jobLog = [];
          draft.eventLog.push({ at: clock.now(), kind: 'factory-reset', message: 'factory reset: settings, jobs and tokens erased' });
        });
        for (const id of ids) await spool.remove(id).catch(() => undefined);
        return result;
      }
      return dispatch(event);
    },
    saveSettings: async (input) => {
      const merged = { ...nvram.data.settings.smtp, ...(isObject(input) ? input : {}) };
      if (!isObject(input)) throw new DeviceInputError('invalid SMTP settings: expected an object', { '(body)': 'must be an object' });
      const settings = parseOrThrow(smtpSettingsSchema, merged, 'SMTP settings');
      return dispatch({ type: 'SAVE_SETTINGS', settings }, (draft) => {
        draft.settings.smtp = settings;
        draft.eventLog.push({ at: clock.now(), kind: 'settings', message: `SMTP settings saved (method ${settings.authMethod})` });
      });
    },
    submitJob: async (input) => {
      const req = parseOrThrow(jobRequestSchema, input, 'job');
      const id = randomUUID();
      const contentPath = await spool.write(id, {
        to: req.to,
        subject: req.subject,
        text: req.body,
        attachments: req.attachments,
      });
      const now = clock.now();
      const record: JobRecord = {
        id,
        messageId: `<${id}@${data.device.serial.toLowerCase()}.mfp-sim.invalid>`,
        status: 'queued',
        to: req.to,
        subject: req.subject,
        contentPath,
        attempts: 0,
        reply: null,
        createdAt: now,
        updatedAt: now,
      };
      try {
        await enqueue(() =>
          commit((draft) => {
            draft.spool.push(record);
            draft.eventLog.push({ at: now, kind: 'job', message: `job ${id} queued for ${req.to.length} recipient(s)` });
          }),
        );
      } catch (err) {
        await spool.remove(id).catch(() => undefined);
        throw err;
      }
      schedulePump();
      return { ...record };
    },
    jobs: () => [...nvram.data.spool, ...nvram.data.jobLog].map((j) => ({ ...j })),
    job: (id) => {
      const j = nvram.data.spool.find((x) => x.id === id) ?? nvram.data.jobLog.find((x) => x.id === id);
      return j ? { ...j } : undefined;
    },
    deadlines: () => scheduler.pending(),
    subscribe: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    idle: async () => {
      // Yield first so that outcomes already resolved (but still in the microtask queue) get enqueued and counted.
      for (;;) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (inFlight.size === 0) return;
        await Promise.all([...inFlight]);
      }
    },
    stop: () => {
      stopped = true;
      scheduler.stop();
      effects.signIn?.cancel();
      effects.signIn = undefined;
      effects.refresh = undefined;
      effects.submit = undefined;
    },
  };

  if (restored) {
    const c = ctx();
    const accessDeadlinePassed =
      c.accessTokenExpiresAt !== null && clock.now() >= c.accessTokenExpiresAt - ACCESS_TOKEN_SKEW_MS;
    await Promise.all([dispatch({ type: 'POWER_CYCLE', accessDeadlinePassed }), sweeping]);
  } else {
    await sweeping;
    rearm();
    schedulePump();
  }
  return device;

  function restoreSnapshot(stored: unknown): { snapshot: Snapshot; since: number } | null {
    if (!isObject(stored) || !('value' in stored) || !isObject(stored.context)) return null;
    try {
      leafState(stored.value);
      const s = machine.resolveState({
        value: stored.value as never,
        context: { ...initialContext(), ...(stored.context as Partial<DeviceContext>) },
      });
      const at = typeof stored.since === 'number' ? stored.since : clock.now();
      return { snapshot: s, since: at };
    } catch {
      return null;
    }
  }
}

function holdReason(state: LeafState, lastError: LastError | null): string {
  switch (state) {
    case 'unconfigured':
      return 'held: OAuth 2.0 is not configured';
    case 'reauthRequired':
      return `held: re-authentication required${lastError ? ` (${lastError.reason})` : ''}`;
    case 'requestingCode':
    case 'codePending':
      return 'held: sign-in in progress';
    default:
      return 'held: not signed in to Microsoft';
  }
}


function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export type { DeadlineEvent };
