/**
 * Effects: the network work the statechart asks for on entering a state (request a code and poll, refresh, submit),
 * started through the ports after the step is committed, and the mapping of each outcome — a grant, a reply, or a
 * typed failure — to the statechart event it becomes. Work the device abandoned (cancelled, left its state, powered
 * off) has its outcome dropped: every effect has an id and only the current one may report.
 */
import type { DeviceContext, DeviceEvent } from '../../machines/oauthDevice.ts';
import type { Clock } from '../time/clock.ts';
import type { Logger } from '../log/logger.ts';
import type { JobRecord, SmtpSettings } from '../nvram/schema.ts';
import { retryDelayMs, type RetryJitter } from './backoff.ts';
import { StorageFaultError } from './storage-fault.ts';
import type { JobContent } from './spool.ts';
import { protocolCode, RefreshFailure, SendFailure, SignInFailure } from './failures.ts';
import type { CancelHandle, DevicePorts, SmtpCredential } from './ports.ts';
import { appCredentials, SMTP_PASSWORD_SECRET } from './credentials.ts';

/** `appToken`: app-only's first client-credentials request (requestingToken); its renewals are `refresh` work. */
export type EffectKind = 'signIn' | 'refresh' | 'submit' | 'appToken';

interface JobWithContent {
  job: JobRecord;
  content: JobContent;
}

export interface EffectsDeps {
  ports: DevicePorts;
  clock: Clock;
  log: Logger;
  /** Runs work in the device's queue (after everything queued before it). */
  enqueue<T>(fn: () => Promise<T>): Promise<T>;
  /** Counts work for `idle()`. */
  track(p: Promise<unknown>): void;
  /** Applies an outcome as a statechart step (already inside the queue). */
  apply(event: DeviceEvent): Promise<unknown>;
  /** Keeps work the disk refused, for the storage retry (see storage-fault.ts). */
  defer(key: string, work: () => Promise<unknown>): void;
  /** Drops a token cache the failed outcome had staged. */
  dropStaged(): void;
  context(): DeviceContext;
  job(id: string): JobRecord | undefined;
  /** The job's content; a disk that fails to read it throws a StorageFaultError (a missing file does not). */
  readContent(jobId: string): Promise<JobContent>;
  smtp(): SmtpSettings;
  /** A sealed secret's plaintext (the basic password, the client secret), read when the work needs it; never kept. */
  secret(name: string): string | undefined;
  /** Spreads retry delays (backoff.ts); absent or null: the fixed schedule. */
  jitter?: RetryJitter | null;
}

export interface Effects {
  /** Starts (or cancels) the work the step's declared actions ask for. */
  run(actions: ReadonlySet<string>, context: DeviceContext): void;
  /** Whether any token-producing work is current (only it may stage a token cache). */
  awaitingTokens(): boolean;
  /** The state left: work tied to it is abandoned. */
  leftState(to: string): void;
  /** Power off: everything is abandoned. */
  abandonAll(): void;
}

export function createEffects(d: EffectsDeps): Effects {
  const current: { signIn?: { id: number; cancel: () => void }; refresh?: number; submit?: number; appToken?: number } = {};
  let seq = 0;
  const currentId = (kind: EffectKind) => (kind === 'signIn' ? current.signIn?.id : current[kind]);
  const clear = (kind: EffectKind) => {
    if (kind === 'signIn') current.signIn = undefined;
    else current[kind] = undefined;
  };

  /** Reports an outcome; `final` false for an intermediate one (the code, while polling goes on). */
  function outcome(kind: EffectKind, id: number, event: DeviceEvent, final = true): void {
    void d.enqueue(async () => {
      if (currentId(kind) !== id) {
        d.log.debug({ kind, event: event.type }, 'dropping the outcome of abandoned work');
        return;
      }
      if (final) clear(kind);
      try {
        return await d.apply(event);
      } catch (err) {
        // The outcome could not be committed (NVRAM full, or failing): it did not happen. Say so, drop what it
        // staged, and end the work in a state the admin can see rather than waiting for an event that is gone.
        const message = (err as Error)?.message ?? String(err);
        d.log.error({ event: event.type, error: message }, 'could not commit an outcome to NVRAM');
        d.dropStaged();
        const failed = commitFailedEvent(kind, event, err, d.context().refreshRetries, d.clock.now(), d.jitter);
        // A send whose acceptance cannot be recorded stays in the spool: on a failing disk the outcome is kept and
        // recorded once the disk works again; after a restart before that, it goes out again (at-least-once, same
        // Message-ID).
        const next = failed ?? event;
        if (!failed && !(err instanceof StorageFaultError)) throw err;
        try {
          return failed ? await d.apply(failed) : d.defer(`outcome:${kind}`, () => d.apply(event));
        } catch (again) {
          // The failure itself cannot be recorded either (the disk still fails): it waits for the disk.
          if (!(again instanceof StorageFaultError)) throw again;
          d.defer(`outcome:${kind}`, () => d.apply(next));
        }
      }
    });
  }

  function startSignIn(account: string): void {
    const id = ++seq;
    let cancelled = false;
    const cancelFns: (() => void)[] = [];
    const cancel: CancelHandle = {
      get cancelled() {
        return cancelled;
      },
      onCancel: (fn) => void cancelFns.push(fn),
    };
    current.signIn = {
      id,
      cancel: () => {
        cancelled = true;
        for (const fn of cancelFns) fn();
      },
    };
    let codeIssued = false;
    // idle() waits for the code request, not for the person at the Microsoft page: polling is left out of it.
    let codePhaseDone!: () => void;
    d.track(new Promise<void>((resolve) => (codePhaseDone = resolve)));
    void d.ports.oauth
      .signIn({
        account,
        cancel,
        onCode: (code) => {
          codeIssued = true;
          codePhaseDone();
          const expiresAt = d.clock.now() + code.expiresInSeconds * 1000;
          outcome('signIn', id, { type: 'CODE_ISSUED', userCode: code.userCode, verificationUri: code.verificationUri, expiresAt }, false);
        },
      })
      .then(
        (grant) =>
          outcome('signIn', id, { type: 'TOKEN_GRANTED', account: grant.account, accessTokenExpiresAt: d.clock.now() + grant.accessTokenExpiresInMs }),
        (err: unknown) => {
          const event = signInFailedEvent(err, codeIssued);
          if (event) outcome('signIn', id, event);
        },
      )
      .finally(() => codePhaseDone());
  }

  function startRefresh(c: DeviceContext): void {
    const id = ++seq;
    current.refresh = id;
    const work = d.ports.oauth.refresh({ account: c.account ?? '' }).then(
      (grant) => outcome('refresh', id, { type: 'REFRESHED', accessTokenExpiresAt: d.clock.now() + grant.accessTokenExpiresInMs }),
      (err: unknown) => outcome('refresh', id, refreshFailedEvent(err, c.refreshRetries, d.clock.now(), d.jitter)),
    );
    d.track(work);
  }

  /**
   * A client-credentials request with the app's sealed secret: the first grant (`appToken`, TOKEN_GRANTED) or a
   * renewal at the deadline (`refresh`, REFRESHED). Failures are REFRESH_FAILED either way (classified by the adapter).
   */
  function startAppToken(kind: 'appToken' | 'refresh', c: DeviceContext): void {
    const id = ++seq;
    current[kind] = id;
    const request = async () => {
      const port = d.ports.appOnly;
      if (!port) throw new RefreshFailure({ transient: false, reason: 'app-only-unsupported', reply: 'this device has no client-credentials port' });
      const app = appCredentials(d.smtp(), d.secret);
      if (!app) throw new RefreshFailure({ transient: false, reason: 'client-secret-missing', reply: 'no client secret is stored for the application: enter it on the panel' });
      return port.request({ app, mailbox: c.account ?? '' });
    };
    const work = request().then(
      (grant) => {
        const expiresAt = d.clock.now() + grant.accessTokenExpiresInMs;
        outcome(kind, id, kind === 'appToken' ? { type: 'TOKEN_GRANTED', account: grant.account, accessTokenExpiresAt: expiresAt } : { type: 'REFRESHED', accessTokenExpiresAt: expiresAt });
      },
      (err: unknown) => outcome(kind, id, refreshFailedEvent(err, c.refreshRetries, d.clock.now(), d.jitter)),
    );
    d.track(work);
  }

  function startSubmit(c: DeviceContext): void {
    const id = ++seq;
    current.submit = id;
    runSubmit(id, c, jobContent(c));
  }

  function runSubmit(id: number, c: DeviceContext, read: Promise<JobWithContent>): void {
    const work = read.then((jc) => submit(c, jc)).then(
      (r) => outcome('submit', id, { type: 'SENT', reply: r.reply }),
      (err: unknown) => {
        // The spool's disk could not read the content: not the mail's failure, and no send retry is used up. The
        // same submission starts again once the disk reads (the storage retry).
        if (err instanceof StorageFaultError) return d.defer('submit', () => retrySubmit(id, c));
        outcome('submit', id, sendFailedEvent(err, c.sendRetries, d.clock.now(), d.jitter));
      },
    );
    d.track(work);
  }

  /**
   * The storage retry's turn for a submission the disk could not read: the read is awaited, so a disk that still
   * fails keeps the work waiting (with the retry's growing delay) rather than failing again at once; the send is not.
   */
  async function retrySubmit(id: number, c: DeviceContext): Promise<void> {
    if (current.submit !== id) return;
    const read = jobContent(c);
    await read.catch((err: unknown) => {
      if (err instanceof StorageFaultError) throw err; // any other failure is the send's, reported by runSubmit
    });
    runSubmit(id, c, read);
  }

  /** The job and its content; gone is for good, a disk that failed to read it (a StorageFaultError) may read it next time. */
  async function jobContent(c: DeviceContext): Promise<JobWithContent> {
    const job = c.jobId ? d.job(c.jobId) : undefined;
    if (!job) throw new SendFailure({ category: 'other', transient: false, reply: 'the job is no longer in the spool' });
    try {
      return { job, content: await d.readContent(job.id) };
    } catch (err) {
      if (err instanceof StorageFaultError) throw err;
      throw new SendFailure({ category: 'other', transient: false, reply: 'the job content is missing from the spool' });
    }
  }

  async function submit(c: DeviceContext, { job, content }: JobWithContent): Promise<{ reply: string }> {
    const smtp = d.smtp();
    const credential = await credentialFor(c, smtp);
    return d.ports.mail.submit({
      target: { host: smtp.smtpServerName, port: smtp.smtpPort, secure: smtp.useSecureConnection, user: smtp.authUsername },
      ...credential,
      message: {
        messageId: job.messageId,
        from: smtp.adminEmailAddress || smtp.authEmailAddress,
        to: content.to,
        subject: content.subject,
        text: content.text,
        attachments: content.attachments,
      },
    });
  }

  /** Basic: the sealed password; app-only and device code: the cached access token for XOAUTH2. */
  async function credentialFor(c: DeviceContext, smtp: SmtpSettings): Promise<SmtpCredential> {
    if (c.method === 'basic') {
      const password = d.secret(SMTP_PASSWORD_SECRET);
      if (!password) throw new SendFailure({ category: 'auth-rejected', transient: false, reply: 'no SMTP password is stored: enter it on the panel' });
      return { password };
    }
    const token =
      c.method === 'appOnly'
        ? d.ports.appOnly
          ? d.ports.appOnly.accessToken({ clientId: smtp.appClientId ?? '' })
          : Promise.reject(new Error('this device has no client-credentials port'))
        : d.ports.oauth.accessToken({ account: c.account ?? '' });
    const accessToken = await token.catch((err: unknown) => {
      throw new SendFailure({ category: 'auth-rejected', transient: false, reply: `no access token: ${String((err as Error)?.message ?? err)}` });
    });
    return { accessToken };
  }

  return {
    run(actions, context) {
      if (actions.has('cancelSignIn') && current.signIn) {
        current.signIn.cancel();
        current.signIn = undefined;
      }
      if (actions.has('requestDeviceCode')) startSignIn(context.account ?? '');
      if (actions.has('requestAppToken')) startAppToken('appToken', context);
      // App-only has no refresh token: its renewal is a new client-credentials request.
      if (actions.has('refreshAccessToken')) {
        if (context.method === 'appOnly') startAppToken('refresh', context);
        else startRefresh(context);
      }
      if (actions.has('submitJob')) startSubmit(context);
    },
    awaitingTokens: () => current.signIn !== undefined || current.refresh !== undefined || current.appToken !== undefined,
    leftState(to) {
      if (to !== 'refreshing') current.refresh = undefined;
      if (to !== 'requestingToken') current.appToken = undefined;
      if (to !== 'sending') current.submit = undefined;
    },
    abandonAll() {
      current.signIn?.cancel();
      current.signIn = undefined;
      current.refresh = undefined;
      current.submit = undefined;
      current.appToken = undefined;
    },
  };
}

// ---------------------------------------------------------------- failure → event

/** The event a failed sign-in becomes (null: it was cancelled, nothing to report). */
export function signInFailedEvent(err: unknown, codeIssued: boolean): DeviceEvent | null {
  const f =
    err instanceof SignInFailure
      ? err
      : new SignInFailure({ kind: codeIssued ? 'poll-failed' : 'code-request-failed', reason: 'unexpected', reply: String(err) });
  const failure = { reason: f.reason, code: f.code, reply: f.reply };
  if (f.kind === 'cancelled') return null;
  if (f.kind === 'code-request-failed' || !codeIssued) return { type: 'CODE_FAILED', ...failure };
  if (f.kind === 'declined') return { type: 'AUTH_DECLINED', ...failure };
  if (f.kind === 'expired') return { type: 'CODE_EXPIRED', ...failure };
  return { type: 'POLL_FAILED', ...failure };
}

export function refreshFailedEvent(err: unknown, retries: number, now: number, jitter: RetryJitter | null = null): DeviceEvent {
  const f = err instanceof RefreshFailure ? err : new RefreshFailure({ transient: true, reason: 'unexpected', reply: String(err) });
  return {
    type: 'REFRESH_FAILED',
    transient: f.transient,
    reason: f.reason,
    code: f.code,
    reply: f.reply,
    retryAt: f.transient ? now + retryDelayMs(retries, f.retryAfterMs, jitter) : null,
  };
}

export function sendFailedEvent(err: unknown, retries: number, now: number, jitter: RetryJitter | null = null): DeviceEvent {
  const f = err instanceof SendFailure ? err : new SendFailure({ category: 'other', transient: true, reply: String(err) });
  return {
    type: 'SEND_FAILED',
    category: f.category,
    transient: f.transient,
    reason: f.reason,
    code: f.code,
    reply: f.reply,
    retryAt: f.transient ? now + retryDelayMs(retries, null, jitter) : null,
  };
}

/** What an outcome becomes when it could not be committed (null: a send — it stays in the spool and goes again). */
export function commitFailedEvent(kind: EffectKind, event: DeviceEvent, err: unknown, refreshRetries: number, now: number, jitter: RetryJitter | null = null): DeviceEvent | null {
  // A failing disk says which way it failed (storage-full, storage-read-only, nvram-write-failed) and its errno.
  const errno = err instanceof StorageFaultError ? err.errno : (err as { code?: unknown })?.code;
  const code = typeof errno === 'string' && errno ? protocolCode('storage', errno) : null;
  const failure =
    err instanceof StorageFaultError
      ? { reason: err.code, code, reply: err.message }
      : { reason: 'nvram-write-failed', code, reply: (err as Error)?.message ?? String(err) };
  if (kind === 'signIn') return event.type === 'CODE_ISSUED' ? { type: 'CODE_FAILED', ...failure } : { type: 'POLL_FAILED', ...failure };
  if (kind === 'refresh' || kind === 'appToken') return { type: 'REFRESH_FAILED', transient: true, retryAt: now + retryDelayMs(refreshRetries, null, jitter), ...failure };
  return null;
}
