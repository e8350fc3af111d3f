/**
 * The effect layer (src/device/effects.ts) on its own, with hand-made deps: which outcome reaches the statechart,
 * which is dropped as abandoned work, what a submission is given, and what an outcome that cannot be committed
 * becomes. The device suites reach this through the whole runtime, but fakes there cannot order an outcome after
 * its state was left for refresh or submit work; here the test holds each promise.
 */
import { describe, expect, it } from 'vitest';
import { initialContext, type DeviceContext, type DeviceEvent } from '../../machines/oauthDevice.ts';
import { createEffects, type EffectsDeps } from '../../src/device/effects.ts';
import { RefreshFailure, SignInFailure } from '../../src/device/failures.ts';
import { StorageFaultError } from '../../src/device/storage-fault.ts';
import { NvramCapacityError } from '../../src/nvram/errors.ts';
import { SMTP_PASSWORD_SECRET } from '../../src/device/credentials.ts';
import type { DevicePorts, Grant, IssuedCode } from '../../src/device/ports.ts';
import type { JobRecord, SmtpSettings } from '../../src/nvram/schema.ts';
import { silentLogger } from '../../src/log/logger.ts';

const ME = 'scanner@contoso.com';
const NOW = 10_000;

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const JOB: JobRecord = {
  id: 'j1', messageId: '<j1@mfp>', status: 'sending', to: ['a@contoso.com'], subject: 's', contentPath: 'j1.eml',
  attempts: 1, reply: null, createdAt: 0, updatedAt: 0,
};
const SMTP: SmtpSettings = {
  smtpServerName: 'smtp.office365.com', smtpPort: 587, useSecureConnection: true, authMethod: 'oauth2ExchangeOnline',
  authEmailAddress: ME, authUsername: ME, adminEmailAddress: '', appTenantId: 'tenant', appClientId: 'client',
};

/** Deps whose every call is recorded; ports answer from promises the test holds. */
function harness(opts: { ports?: Partial<DevicePorts>; apply?: (e: DeviceEvent) => Promise<unknown>; secrets?: Record<string, string>; jobs?: JobRecord[]; readContent?: EffectsDeps['readContent'] } = {}) {
  const applied: DeviceEvent[] = [];
  const deferredKeys: string[] = [];
  const deferredWork: (() => Promise<unknown>)[] = [];
  const errors: unknown[] = [];
  const pending: Promise<unknown>[] = [];
  let queue: Promise<unknown> = Promise.resolve();
  let dropped = 0;
  const submits: Parameters<DevicePorts['mail']['submit']>[0][] = [];
  const refreshes = [deferred<Grant>()];
  const accessTokenAccounts: string[] = [];
  const refreshAccounts: string[] = [];
  const signIns: { account: string; onCode: (c: IssuedCode) => void; result: Deferred<Grant>; cancelled: () => boolean; toldOfCancel: () => number }[] = [];
  const ports: DevicePorts = {
    oauth: {
      signIn: ({ account, onCode, cancel }) => {
        const result = deferred<Grant>();
        const told = { cancel: 0 };
        cancel.onCancel(() => void told.cancel++);
        signIns.push({ account, onCode, result, cancelled: () => cancel.cancelled, toldOfCancel: () => told.cancel });
        return result.promise;
      },
      refresh: ({ account }) => (refreshAccounts.push(account), refreshes[refreshes.length - 1]!.promise),
      accessToken: ({ account }) => (accessTokenAccounts.push(account), Promise.resolve('token')),
    },
    mail: { submit: async (args) => (submits.push(args), { reply: '250 2.0.0 OK' }) },
    ...opts.ports,
  };
  let ctx: DeviceContext = { ...initialContext(), account: ME, method: 'deviceCode' };
  const deps: EffectsDeps = {
    ports,
    clock: { now: () => NOW, setTimer: () => 0 as never, clearTimer: () => {} },
    log: silentLogger(),
    enqueue: (fn) => {
      const p = queue.then(fn);
      queue = p.catch((err) => void errors.push(err));
      pending.push(queue);
      return p;
    },
    track: (p) => void pending.push(p.catch(() => {})),
    apply: opts.apply ?? (async (e) => void applied.push(e)),
    defer: (key, work) => {
      deferredKeys.push(key);
      deferredWork.push(work);
    },
    dropStaged: () => void dropped++,
    context: () => ctx,
    job: (id) => (opts.jobs ?? [JOB]).find((j) => j.id === id),
    readContent: opts.readContent ?? (async () => ({ to: ['a@contoso.com'], subject: 's', text: 't', attachments: [] })),
    smtp: () => SMTP,
    secret: (name) => opts.secrets?.[name],
  };
  const effects = createEffects(deps);
  const settle = async () => {
    for (let i = 0; i < 20; i++) {
      await Promise.all(pending);
      await new Promise((r) => setImmediate(r));
    }
  };
  return {
    effects, applied, deferredKeys, deferredWork, errors, submits, refreshes, signIns, accessTokenAccounts, refreshAccounts, settle,
    dropped: () => dropped,
    setContext: (c: Partial<DeviceContext>) => (ctx = { ...ctx, ...c }),
    run: (actions: string[], c: Partial<DeviceContext> = {}) => effects.run(new Set(actions), { ...ctx, ...c }),
  };
}
const grant = (account = ME): Grant => ({ account, accessTokenExpiresInMs: 3_600_000 });
const code: IssuedCode = { userCode: 'ABC', verificationUri: 'https://microsoft.com/devicelogin', expiresInSeconds: 900, message: 'm' };

describe('abandoned work: only the current effect may report', () => {
  it('a refresh whose state was left reports nothing; one still in refreshing reports REFRESHED', async () => {
    const h = harness();
    h.run(['refreshAccessToken']);
    expect(h.effects.awaitingTokens()).toBe(true);
    h.effects.leftState('authorized');
    expect(h.effects.awaitingTokens()).toBe(false);
    h.refreshes[0]!.resolve(grant());
    await h.settle();
    expect(h.applied).toEqual([]);

    const k = harness();
    k.run(['refreshAccessToken']);
    k.effects.leftState('refreshing');
    k.refreshes[0]!.resolve(grant());
    await k.settle();
    expect(k.applied).toEqual([{ type: 'REFRESHED', accessTokenExpiresAt: NOW + 3_600_000 }]);
    expect(k.effects.awaitingTokens()).toBe(false); // a final outcome ends the work
  });

  it('a submission whose state was left reports nothing; one still in sending reports SENT', async () => {
    const h = harness();
    h.run(['submitJob'], { jobId: 'j1' });
    h.effects.leftState('authorized');
    await h.settle();
    expect(h.applied).toEqual([]);
    expect(h.submits).toHaveLength(1); // the submission itself was not stopped: only its outcome is dropped

    const k = harness();
    k.run(['submitJob'], { jobId: 'j1' });
    k.effects.leftState('sending');
    await k.settle();
    expect(k.applied).toEqual([{ type: 'SENT', reply: '250 2.0.0 OK' }]);
  });

  it('the code is an intermediate outcome: the sign-in stays current until its grant', async () => {
    const h = harness();
    h.run(['requestDeviceCode']);
    expect(h.signIns[0]!.account).toBe(ME);
    h.signIns[0]!.onCode(code);
    await h.settle();
    expect(h.applied).toEqual([{ type: 'CODE_ISSUED', userCode: 'ABC', verificationUri: code.verificationUri, expiresAt: NOW + 900_000 }]);
    expect(h.effects.awaitingTokens()).toBe(true);
    h.signIns[0]!.result.resolve(grant('Scanner@contoso.com'));
    await h.settle();
    expect(h.applied[1]).toEqual({ type: 'TOKEN_GRANTED', account: 'Scanner@contoso.com', accessTokenExpiresAt: NOW + 3_600_000 });
    expect(h.effects.awaitingTokens()).toBe(false);
  });

  it('a cancelled sign-in is told so, and its late grant is dropped; the next sign-in reports', async () => {
    const h = harness();
    h.run(['requestDeviceCode']);
    h.run(['cancelSignIn', 'requestDeviceCode']);
    expect(h.signIns[0]!.cancelled()).toBe(true);
    expect(h.signIns[0]!.toldOfCancel()).toBe(1); // the port's own cancel hook runs (it stops polling Entra)
    expect(h.signIns[1]!.cancelled()).toBe(false);
    expect(h.signIns[1]!.toldOfCancel()).toBe(0);
    h.signIns[0]!.result.resolve(grant('old@contoso.com'));
    h.signIns[1]!.result.resolve(grant());
    await h.settle();
    expect(h.applied).toEqual([{ type: 'TOKEN_GRANTED', account: ME, accessTokenExpiresAt: NOW + 3_600_000 }]);
  });

  it('power-off abandons everything, cancelling the sign-in', async () => {
    const h = harness();
    h.run(['requestDeviceCode']);
    h.run(['refreshAccessToken']);
    h.effects.abandonAll();
    expect(h.signIns[0]!.cancelled()).toBe(true);
    expect(h.effects.awaitingTokens()).toBe(false);
    h.signIns[0]!.result.resolve(grant());
    h.refreshes[0]!.resolve(grant());
    await h.settle();
    expect(h.applied).toEqual([]);
    expect(h.errors).toEqual([]); // dropped quietly, not by a crash in the queue
  });

  it('power-off with no sign-in under way, and a cancel with none to cancel, are harmless', () => {
    const h = harness();
    expect(() => h.effects.abandonAll()).not.toThrow();
    expect(() => h.run(['cancelSignIn'])).not.toThrow();
  });

  it('a step that does not cancel the sign-in leaves it running', async () => {
    const h = harness();
    h.run(['requestDeviceCode']);
    h.run(['submitJob'], { jobId: 'j1' });
    expect(h.signIns[0]!.cancelled()).toBe(false);
    h.signIns[0]!.result.resolve(grant());
    await h.settle();
    expect(h.applied.map((e) => e.type)).toContain('TOKEN_GRANTED');
  });
});

describe('what a submission is given', () => {
  it('device code: the cached token of the configured account (none configured: an empty account)', async () => {
    const h = harness();
    h.run(['submitJob'], { jobId: 'j1', account: null });
    await h.settle();
    expect(h.accessTokenAccounts).toEqual(['']);
    expect(h.submits[0]).toMatchObject({
      target: { host: 'smtp.office365.com', port: 587, secure: true, user: ME },
      accessToken: 'token',
      message: { messageId: '<j1@mfp>', from: ME },
    });
  });

  it('basic: the sealed password; none stored is a final auth refusal that says what to do', async () => {
    const h = harness({ secrets: { [SMTP_PASSWORD_SECRET]: 'pw' } });
    h.run(['submitJob'], { jobId: 'j1', method: 'basic' });
    await h.settle();
    expect(h.submits[0]).toMatchObject({ password: 'pw' });
    expect(h.submits[0]!.accessToken).toBeUndefined();

    const none = harness();
    none.run(['submitJob'], { jobId: 'j1', method: 'basic' });
    await none.settle();
    expect(none.submits).toEqual([]);
    expect(none.applied).toEqual([
      expect.objectContaining({ type: 'SEND_FAILED', category: 'auth-rejected', transient: false, retryAt: null, reply: 'no SMTP password is stored: enter it on the panel' }),
    ]);
  });

  it('no access token is a final auth refusal carrying the reason, an Error’s message or the value itself', async () => {
    for (const [rejection, reply] of [
      [new Error('no account in the cache'), 'no access token: no account in the cache'],
      ['cache empty', 'no access token: cache empty'],
      [undefined, 'no access token: undefined'], // whatever a port rejects with, a refusal the admin can read
    ] as const) {
      const h = harness({ ports: { oauth: { signIn: () => new Promise(() => {}), refresh: () => new Promise(() => {}), accessToken: () => Promise.reject(rejection) } } });
      h.run(['submitJob'], { jobId: 'j1' });
      await h.settle();
      expect(h.applied).toEqual([expect.objectContaining({ type: 'SEND_FAILED', category: 'auth-rejected', transient: false, reply })]);
    }
  });

  it('app-only on a device without the client-credentials port: no token, said so', async () => {
    const h = harness();
    h.run(['submitJob'], { jobId: 'j1', method: 'appOnly' });
    await h.settle();
    expect(h.applied).toEqual([expect.objectContaining({ type: 'SEND_FAILED', reply: 'no access token: this device has no client-credentials port' })]);
  });

  it('a job gone from the spool fails for good, without a submission', async () => {
    const h = harness({ jobs: [] });
    h.run(['submitJob'], { jobId: 'j1' });
    await h.settle();
    expect(h.submits).toEqual([]);
    expect(h.applied).toEqual([expect.objectContaining({ type: 'SEND_FAILED', category: 'other', transient: false, retryAt: null, reply: 'the job is no longer in the spool' })]);
  });
});

describe('app-only token requests', () => {
  it('without the port, or without a stored secret, fail for good with the reason', async () => {
    const h = harness();
    h.run(['requestAppToken'], { method: 'appOnly' });
    await h.settle();
    expect(h.applied).toEqual([
      expect.objectContaining({ type: 'REFRESH_FAILED', transient: false, reason: 'app-only-unsupported', retryAt: null, reply: 'this device has no client-credentials port' }),
    ]);

    const requests: unknown[] = [];
    const appOnly = { request: async (a: unknown) => (requests.push(a), grant()), accessToken: async () => 'app-token' };
    const k = harness({ ports: { appOnly } });
    k.run(['requestAppToken'], { method: 'appOnly' });
    await k.settle();
    expect(requests).toEqual([]);
    // The sentence the admin reads on the panel says what to do.
    expect(k.applied).toEqual([
      expect.objectContaining({ type: 'REFRESH_FAILED', transient: false, reason: 'client-secret-missing', reply: 'no client secret is stored for the application: enter it on the panel' }),
    ]);
  });

  it('with the secret: the first grant is TOKEN_GRANTED, a renewal at the deadline is REFRESHED', async () => {
    const requests: { app: unknown; mailbox: string }[] = [];
    const appOnly = { request: async (a: { app: unknown; mailbox: string }) => (requests.push(a), grant()), accessToken: async () => 'app-token' };
    const h = harness({ ports: { appOnly }, secrets: { 'app-client-secret': 'shh' } });
    h.run(['requestAppToken'], { method: 'appOnly' });
    await h.settle();
    h.run(['refreshAccessToken'], { method: 'appOnly' });
    h.effects.leftState('refreshing');
    await h.settle();
    expect(requests).toEqual([
      { app: { tenantId: 'tenant', clientId: 'client', clientSecret: 'shh' }, mailbox: ME },
      { app: { tenantId: 'tenant', clientId: 'client', clientSecret: 'shh' }, mailbox: ME },
    ]);
    expect(h.applied).toEqual([
      { type: 'TOKEN_GRANTED', account: ME, accessTokenExpiresAt: NOW + 3_600_000 },
      { type: 'REFRESHED', accessTokenExpiresAt: NOW + 3_600_000 },
    ]);
  });
});

describe('an outcome that cannot be committed', () => {
  const diskFull = () => new StorageFaultError({ reason: 'storage-full', area: 'nvram', operation: 'write', code: 'ENOSPC', message: 'no space left' });

  it('a refresh outcome becomes a transient REFRESH_FAILED with the disk’s reason, and what it staged is dropped', async () => {
    const seen: DeviceEvent[] = [];
    const h = harness({ apply: async (e) => { seen.push(e); if (e.type === 'REFRESHED') throw diskFull(); } });
    h.run(['refreshAccessToken']);
    h.effects.leftState('refreshing');
    h.refreshes[0]!.resolve(grant());
    await h.settle();
    expect(h.dropped()).toBe(1);
    expect(seen.map((e) => e.type)).toEqual(['REFRESHED', 'REFRESH_FAILED']);
    expect(seen[1]).toMatchObject({ transient: true, reason: 'storage-full', code: { kind: 'storage', value: 'ENOSPC' } });
  });

  it('a send whose acceptance cannot be recorded on a failing disk waits for the disk, not for another send', async () => {
    let fail = true;
    const seen: DeviceEvent[] = [];
    const h = harness({ apply: async (e) => { seen.push(e); if (fail) throw diskFull(); } });
    h.run(['submitJob'], { jobId: 'j1' });
    await h.settle();
    expect(h.deferredKeys).toEqual(['outcome:submit']);
    expect(h.submits).toHaveLength(1);
    fail = false;
    await h.deferredWork[0]!();
    expect(seen).toEqual([{ type: 'SENT', reply: '250 2.0.0 OK' }, { type: 'SENT', reply: '250 2.0.0 OK' }]);
  });

  it('when the failure cannot be recorded either, the failure waits for the disk', async () => {
    const seen: DeviceEvent[] = [];
    const h = harness({ apply: async (e) => { seen.push(e); throw diskFull(); } });
    h.run(['refreshAccessToken']);
    h.effects.leftState('refreshing');
    h.refreshes[0]!.resolve(grant());
    await h.settle();
    expect(h.deferredKeys).toEqual(['outcome:refresh']);
    await h.deferredWork[0]!().catch(() => {});
    expect(seen.map((e) => e.type)).toEqual(['REFRESHED', 'REFRESH_FAILED', 'REFRESH_FAILED']);
    expect(h.errors).toEqual([]);
  });

  it('an error that is not the disk’s, on a send, is not swallowed', async () => {
    const bug = new TypeError('a bug');
    const h = harness({ apply: async () => { throw bug; } });
    h.run(['submitJob'], { jobId: 'j1' });
    await h.settle();
    expect(h.errors).toEqual([bug]);
    expect(h.deferredKeys).toEqual([]);
  });

  it('a non-disk error from recording the failure itself is not swallowed either', async () => {
    const bug = new TypeError('a bug');
    const h = harness({ apply: async (e) => { if (e.type === 'REFRESHED') throw diskFull(); throw bug; } });
    h.run(['refreshAccessToken']);
    h.effects.leftState('refreshing');
    h.refreshes[0]!.resolve(grant());
    await h.settle();
    expect(h.errors).toEqual([bug]);
    expect(h.deferredKeys).toEqual([]);
  });
});

describe('a refresh failure', () => {
  it('that is not a RefreshFailure is transient, with the value as the reply; a permanent one schedules nothing', async () => {
    const odd = harness();
    odd.run(['refreshAccessToken'], { refreshRetries: 0 });
    odd.effects.leftState('refreshing');
    odd.refreshes[0]!.reject('socket hang up');
    await odd.settle();
    expect(odd.applied).toEqual([expect.objectContaining({ type: 'REFRESH_FAILED', transient: true, reason: 'unexpected', reply: 'socket hang up', retryAt: NOW + 30_000 })]);

    const h = harness();
    h.run(['refreshAccessToken'], { refreshRetries: 0 });
    h.effects.leftState('refreshing');
    h.refreshes[0]!.reject(new RefreshFailure({ transient: false, reason: 'invalid-grant', reply: 'AADSTS70000' }));
    await h.settle();
    expect(h.applied).toEqual([expect.objectContaining({ type: 'REFRESH_FAILED', transient: false, reason: 'invalid-grant', retryAt: null })]);
  });
});

describe('app-only: the first token request belongs to requestingToken', () => {
  const appOnlyPort = () => {
    const answers: Deferred<Grant>[] = [];
    const port = { request: () => { const a = deferred<Grant>(); answers.push(a); return a.promise; }, accessToken: async () => 'app-token' };
    return { port, answers };
  };

  it('a grant arriving after the device left requestingToken is dropped; one arriving while there is TOKEN_GRANTED', async () => {
    const left = appOnlyPort();
    const h = harness({ ports: { appOnly: left.port }, secrets: { 'app-client-secret': 'shh' } });
    h.run(['requestAppToken'], { method: 'appOnly' });
    expect(h.effects.awaitingTokens()).toBe(true);
    h.effects.leftState('ready'); // e.g. the admin switched the method while the request was out
    expect(h.effects.awaitingTokens()).toBe(false); // a late grant may no longer stage tokens
    left.answers[0]!.resolve(grant());
    await h.settle();
    expect(h.applied).toEqual([]);

    const stayed = appOnlyPort();
    const k = harness({ ports: { appOnly: stayed.port }, secrets: { 'app-client-secret': 'shh' } });
    k.run(['requestAppToken'], { method: 'appOnly' });
    k.effects.leftState('requestingToken');
    expect(k.effects.awaitingTokens()).toBe(true);
    stayed.answers[0]!.resolve(grant());
    await k.settle();
    expect(k.applied).toEqual([{ type: 'TOKEN_GRANTED', account: ME, accessTokenExpiresAt: NOW + 3_600_000 }]);
    expect(k.effects.awaitingTokens()).toBe(false);
  });

  it('a first grant that cannot be committed becomes a transient REFRESH_FAILED, retried on the refresh schedule', async () => {
    const seen: DeviceEvent[] = [];
    const diskFull = new StorageFaultError({ reason: 'storage-full', area: 'nvram', operation: 'write', code: 'ENOSPC', message: 'no space left' });
    const h = harness({
      ports: { appOnly: { request: async () => grant(), accessToken: async () => 'app-token' } },
      secrets: { 'app-client-secret': 'shh' },
      apply: async (e) => { seen.push(e); if (e.type === 'TOKEN_GRANTED') throw diskFull; },
    });
    h.setContext({ refreshRetries: 0 });
    h.run(['requestAppToken'], { method: 'appOnly' });
    await h.settle();
    expect(seen.map((e) => e.type)).toEqual(['TOKEN_GRANTED', 'REFRESH_FAILED']);
    expect(seen[1]).toMatchObject({ transient: true, reason: 'storage-full', code: { kind: 'storage', value: 'ENOSPC' }, retryAt: NOW + 30_000 });
    expect(h.dropped()).toBe(1);
    expect(h.deferredKeys).toEqual([]); // the failure was recorded: nothing waits for the disk
  });

  it('the request and the submission name the configured mailbox and client', async () => {
    const tokenClients: string[] = [];
    const h = harness({ ports: { appOnly: { request: async () => grant(), accessToken: async ({ clientId }) => (tokenClients.push(clientId), 'app-token') } } });
    h.run(['submitJob'], { jobId: 'j1', method: 'appOnly' });
    await h.settle();
    expect(tokenClients).toEqual(['client']);
    expect(h.submits[0]).toMatchObject({ accessToken: 'app-token' });
  });
});

describe('a refresh names the account', () => {
  it('the configured account, or an empty one when none is configured', async () => {
    const h = harness();
    h.run(['refreshAccessToken']);
    h.run(['refreshAccessToken'], { account: null });
    expect(h.refreshAccounts).toEqual([ME, '']);
  });
});

describe('a sign-in the port reports as cancelled', () => {
  it('reports nothing to the statechart (the cancel came from the device, which already moved on)', async () => {
    const h = harness();
    h.run(['requestDeviceCode']);
    h.signIns[0]!.onCode(code);
    await h.settle();
    h.signIns[0]!.result.reject(new SignInFailure({ kind: 'cancelled', reason: 'cancelled', reply: 'cancelled by the user' }));
    await h.settle();
    expect(h.applied.map((e) => e?.type)).toEqual(['CODE_ISSUED']);
    expect(h.errors).toEqual([]);
  });
});

describe('a submission whose content the spool’s disk could not read', () => {
  const readFault = () => new StorageFaultError({ reason: 'spool-read-failed', area: 'spool', operation: 'read', code: 'EIO', message: 'i/o error' });

  function flakyDisk(failures: number) {
    let reads = 0;
    return {
      reads: () => reads,
      readContent: async () => {
        reads++;
        if (reads <= failures) throw readFault();
        return { to: ['a@contoso.com'], subject: 's', text: 't', attachments: [] };
      },
    };
  }

  it('waits for the storage retry, uses up no send retry, and is sent once the disk reads', async () => {
    const disk = flakyDisk(1);
    const h = harness({ readContent: disk.readContent });
    h.run(['submitJob'], { jobId: 'j1' });
    h.effects.leftState('sending');
    await h.settle();
    expect(h.applied).toEqual([]); // not a SEND_FAILED: the mail was never tried
    expect(h.submits).toEqual([]);
    expect(h.deferredKeys).toEqual(['submit']);

    await h.deferredWork[0]!();
    await h.settle();
    expect(disk.reads()).toBe(2);
    expect(h.submits).toHaveLength(1);
    expect(h.applied).toEqual([{ type: 'SENT', reply: '250 2.0.0 OK' }]);
  });

  it('a disk that still fails at the retry keeps the work waiting (the retry sees the fault), not failed', async () => {
    const disk = flakyDisk(2);
    const h = harness({ readContent: disk.readContent });
    h.run(['submitJob'], { jobId: 'j1' });
    h.effects.leftState('sending');
    await h.settle();
    await expect(h.deferredWork[0]!()).rejects.toBeInstanceOf(StorageFaultError);
    await h.settle();
    expect(h.submits).toEqual([]);
    expect(h.applied).toEqual([]);
  });

  it('content gone by the retry is the send’s final failure', async () => {
    let reads = 0;
    const h = harness({
      readContent: async () => {
        if (++reads === 1) throw readFault();
        throw Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
      },
    });
    h.run(['submitJob'], { jobId: 'j1' });
    h.effects.leftState('sending');
    await h.settle();
    await h.deferredWork[0]!();
    await h.settle();
    expect(h.submits).toEqual([]);
    expect(h.applied).toEqual([
      expect.objectContaining({ type: 'SEND_FAILED', category: 'other', transient: false, retryAt: null, reply: 'the job content is missing from the spool' }),
    ]);
  });

  it('a submission abandoned before its retry reads nothing and reports nothing', async () => {
    const disk = flakyDisk(1);
    const h = harness({ readContent: disk.readContent });
    h.run(['submitJob'], { jobId: 'j1' });
    h.effects.leftState('sending');
    await h.settle();
    h.effects.leftState('authorized'); // e.g. the job was cancelled while the disk failed
    await h.deferredWork[0]!();
    await h.settle();
    expect(disk.reads()).toBe(1);
    expect(h.submits).toEqual([]);
    expect(h.applied).toEqual([]);
  });
});

describe('how a sign-in ends', () => {
  const typed = (kind: 'code-request-failed' | 'declined' | 'expired' | 'poll-failed', reason: string) => new SignInFailure({ kind, reason, reply: `${reason} said` });

  it('before a code: any failure is CODE_FAILED (a plain error as unexpected, with its words)', async () => {
    for (const [err, reason, reply] of [
      [new Error('socket hang up'), 'unexpected', 'Error: socket hang up'],
      [typed('code-request-failed', 'unknown-client'), 'unknown-client', 'unknown-client said'],
      [typed('poll-failed', 'server-error'), 'server-error', 'server-error said'],
    ] as const) {
      const h = harness();
      h.run(['requestDeviceCode']);
      h.signIns[0]!.result.reject(err);
      await h.settle();
      expect(h.applied).toEqual([{ type: 'CODE_FAILED', reason, code: null, reply }]);
      expect(h.effects.awaitingTokens()).toBe(false);
    }
  });

  it('after the code: declined, expired, a failed poll, and a plain error as a failed poll', async () => {
    for (const [err, type, reason] of [
      [typed('declined', 'access-denied'), 'AUTH_DECLINED', 'access-denied'],
      [typed('expired', 'code-expired'), 'CODE_EXPIRED', 'code-expired'],
      [typed('poll-failed', 'server-error'), 'POLL_FAILED', 'server-error'],
      [typed('code-request-failed', 'unknown-client'), 'CODE_FAILED', 'unknown-client'],
      ['boom', 'POLL_FAILED', 'unexpected'],
    ] as const) {
      const h = harness();
      h.run(['requestDeviceCode']);
      h.signIns[0]!.onCode(code);
      h.signIns[0]!.result.reject(err);
      await h.settle();
      expect(h.applied.slice(1)).toEqual([expect.objectContaining({ type, reason })]);
    }
  });

  it('no account configured: the requests name an empty account, never a placeholder', async () => {
    const mailboxes: string[] = [];
    const appOnly = { request: async (a: { mailbox: string }) => (mailboxes.push(a.mailbox), grant()), accessToken: async () => 'app-token' };
    const h = harness({ ports: { appOnly }, secrets: { 'app-client-secret': 'shh' } });
    h.run(['requestDeviceCode'], { account: null });
    h.run(['requestAppToken'], { method: 'appOnly', account: null });
    expect(h.signIns[0]!.account).toBe('');
    expect(mailboxes).toEqual(['']);
  });
});

describe('a send failure that is not a SendFailure', () => {
  it('is transient, with the error’s words, retried on the backoff', async () => {
    const h = harness({ ports: { mail: { submit: () => Promise.reject(new Error('ECONNRESET')) } } });
    h.run(['submitJob'], { jobId: 'j1', sendRetries: 0 });
    await h.settle();
    expect(h.applied).toEqual([{ type: 'SEND_FAILED', category: 'other', transient: true, reason: 'other', code: null, reply: 'Error: ECONNRESET', retryAt: NOW + 30_000 }]);
  });
});

describe('app-only renewal at the deadline', () => {
  it('is refresh work: it may stage tokens while refreshing, and is dropped once that state is left', async () => {
    const answers: Deferred<Grant>[] = [];
    const appOnly = { request: () => { const a = deferred<Grant>(); answers.push(a); return a.promise; }, accessToken: async () => 'app-token' };
    const h = harness({ ports: { appOnly }, secrets: { 'app-client-secret': 'shh' } });
    h.run(['refreshAccessToken'], { method: 'appOnly' });
    expect(h.effects.awaitingTokens()).toBe(true);
    h.effects.leftState('authorized');
    expect(h.effects.awaitingTokens()).toBe(false);
    answers[0]!.resolve(grant());
    await h.settle();
    expect(h.applied).toEqual([]);
  });
});

describe('a sign-in outcome that cannot be committed', () => {
  it('the code: CODE_FAILED; the grant: POLL_FAILED — each with the NVRAM’s reason', async () => {
    const full = new NvramCapacityError(70_000, 65_536);
    const seen1: DeviceEvent[] = [];
    const c = harness({ apply: async (e) => { seen1.push(e); if (e.type === 'CODE_ISSUED') throw full; } });
    c.run(['requestDeviceCode']);
    c.signIns[0]!.onCode(code);
    await c.settle();
    expect(seen1.map((e) => e.type)).toEqual(['CODE_ISSUED', 'CODE_FAILED']);
    expect(seen1[1]).toEqual({ type: 'CODE_FAILED', reason: 'nvram-write-failed', code: { kind: 'storage', value: 'nvram_capacity' }, reply: full.message });

    const seen2: DeviceEvent[] = [];
    const g = harness({ apply: async (e) => { seen2.push(e); if (e.type === 'TOKEN_GRANTED') throw new Error('write refused'); } });
    g.run(['requestDeviceCode']);
    g.signIns[0]!.onCode(code);
    g.signIns[0]!.result.resolve(grant());
    await g.settle();
    expect(seen2.map((e) => e.type)).toEqual(['CODE_ISSUED', 'TOKEN_GRANTED', 'POLL_FAILED']);
    expect(seen2[2]).toEqual({ type: 'POLL_FAILED', reason: 'nvram-write-failed', code: null, reply: 'write refused' });
  });
});
