/**
 * The record rules of src/device/records.ts one step at a time, on a hand-made NVRAM draft: a job's status, reply,
 * attempts and updatedAt after each record action, and what a step must leave alone. The device suites reach these
 * rules through the whole runtime but mostly check end states; mutation testing found the rules themselves unpinned.
 */
import { describe, expect, it } from 'vitest';
import { transition } from 'xstate';
import { initialContext, oauthDeviceMachine as machine, type DeviceContext, type DeviceEvent } from '../../machines/oauthDevice.ts';
import { applyRecords, declaresRecords, holdReason, jobsSentBy, transitionEntry, trimLogs, type Step } from '../../src/device/records.ts';
import { JOB_LOG_LIMIT } from '../../src/device/printer.ts';
import type { JobRecord, NvramData } from '../../src/nvram/schema.ts';

const ME = 'scanner@contoso.com';
const BEFORE = 1_000;
const NOW = 5_000;

const job = (id: string, status: JobRecord['status'], extra: Partial<JobRecord> = {}): JobRecord => ({
  id,
  messageId: `<${id}@mfp>`,
  status,
  to: ['a@contoso.com'],
  subject: 's',
  contentPath: `${id}.eml`,
  attempts: 0,
  reply: null,
  createdAt: BEFORE,
  updatedAt: BEFORE,
  ...extra,
});
// The rules touch only the spool and the job log.
const draftOf = (spool: JobRecord[], jobLog: JobRecord[] = []) => ({ spool, jobLog }) as unknown as NvramData;

function stepFrom(value: unknown, ctx: Partial<DeviceContext>, event: DeviceEvent): Step {
  const prev = machine.resolveState({ value: value as never, context: { ...initialContext(), account: ME, method: 'deviceCode', ...ctx } });
  expect(prev.can(event), `${JSON.stringify(value)} takes ${event.type}`).toBe(true);
  const [next, actions] = transition(machine, prev, event);
  return { prev, next, event, actions: new Set(actions.map((a) => a.type)), now: NOW };
}
const fail = { reason: 'throttled', code: null };

describe('record actions', () => {
  it('completeJob moves the job to the log as sent with Exchange’s reply, and returns its id', () => {
    const d = draftOf([job('j1', 'sending', { attempts: 1 }), job('j2', 'queued')]);
    const finished = applyRecords(d, stepFrom({ signedIn: 'sending' }, { jobId: 'j1' }, { type: 'SENT', reply: '250 2.0.0 OK' }));
    expect(finished).toEqual(['j1']);
    expect(d.spool.map((j) => j.id)).toEqual(['j2']);
    expect(d.jobLog).toEqual([job('j1', 'sent', { attempts: 1, reply: '250 2.0.0 OK', updatedAt: NOW })]);
    expect(d.spool[0]).toEqual(job('j2', 'queued'));
  });

  it('jobsSentBy, read before the write, names the job completeJob then records as sent, with the same fields', () => {
    const d = draftOf([job('j1', 'sending', { attempts: 1 }), job('j2', 'queued')]);
    const step = stepFrom({ signedIn: 'sending' }, { jobId: 'j1' }, { type: 'SENT', reply: '250 2.0.0 OK' });
    const ahead = jobsSentBy(d, step);
    applyRecords(d, step);
    const recorded = d.jobLog[0]!;
    expect(ahead).toEqual([{ id: 'j1', status: 'sent', reply: '250 2.0.0 OK', updatedAt: NOW, messageId: '<j1@mfp>' }]);
    expect(ahead[0]).toMatchObject({ status: recorded.status, reply: recorded.reply, updatedAt: recorded.updatedAt, messageId: recorded.messageId });
    // Nothing finishes as sent on a failure, a dismissal, or for a job no longer in the spool.
    expect(jobsSentBy(draftOf([job('j1', 'sending')]), stepFrom({ signedIn: 'sending' }, { jobId: 'j1' }, { type: 'SEND_FAILED', category: 'throttled', transient: true, retryAt: NOW + 30_000, ...fail }))).toEqual([]);
    expect(jobsSentBy(draftOf([job('j1', 'held')]), stepFrom({ signedIn: 'sendFailure' }, { jobId: 'j1', lastError: null }, { type: 'DISMISS' }))).toEqual([]);
    expect(jobsSentBy(draftOf([job('j2', 'queued')]), stepFrom({ signedIn: 'sending' }, { jobId: 'gone' }, { type: 'SENT', reply: '250 OK' }))).toEqual([]);
  });

  it('a record action for a job no longer in the spool changes nothing and finishes nothing', () => {
    const spool = () => [job('j2', 'queued')];
    for (const s of [
      stepFrom({ signedIn: 'sending' }, { jobId: 'gone' }, { type: 'SENT', reply: '250 OK' }),
      stepFrom({ signedIn: 'sendFailure' }, { jobId: 'gone', lastError: null }, { type: 'DISMISS' }),
      stepFrom({ signedIn: 'sending' }, { jobId: 'gone' }, { type: 'SIGN_OUT' }),
      stepFrom({ signedIn: 'authorized' }, {}, { type: 'SEND', jobId: 'gone' }),
      stepFrom({ signedIn: 'sending' }, { jobId: 'gone' }, { type: 'SEND_FAILED', category: 'throttled', transient: true, retryAt: NOW + 30_000, ...fail }),
    ]) {
      const d = draftOf(spool());
      expect(applyRecords(d, s), s.event.type).toEqual([]);
      expect(d.spool, s.event.type).toEqual(spool());
      expect(d.jobLog, s.event.type).toEqual([]);
    }
  });

  it('failJob (Dismiss) fails the job with the reply, else the reason, else "dismissed"', () => {
    const dismiss = (lastError: DeviceContext['lastError']) => {
      const d = draftOf([job('j1', 'held')]);
      expect(applyRecords(d, stepFrom({ signedIn: 'sendFailure' }, { jobId: 'j1', lastError }, { type: 'DISMISS' }))).toEqual(['j1']);
      expect(d.spool).toEqual([]);
      return d.jobLog[0];
    };
    expect(dismiss({ reason: 'quota', code: null, reply: '552 5.2.2 mailbox full' })).toMatchObject({ status: 'failed', reply: '552 5.2.2 mailbox full', updatedAt: NOW });
    expect(dismiss({ reason: 'quota', code: null, reply: null })).toMatchObject({ status: 'failed', reply: 'quota' });
    expect(dismiss(null)).toMatchObject({ status: 'failed', reply: 'dismissed', updatedAt: NOW });
  });

  it('requeueJob puts a sending job back in the queue; a held one stays held, untouched', () => {
    const sending = draftOf([job('j1', 'sending', { attempts: 1 })]);
    applyRecords(sending, stepFrom({ signedIn: 'sending' }, { jobId: 'j1' }, { type: 'SIGN_OUT' }));
    expect(sending.spool).toEqual([job('j1', 'queued', { attempts: 1, updatedAt: NOW })]);

    const held = draftOf([job('j1', 'held', { reply: '535 5.7.139' })]);
    applyRecords(held, stepFrom({ signedIn: 'sendFailure' }, { jobId: 'j1' }, { type: 'SIGN_OUT' }));
    expect(held.spool).toEqual([job('j1', 'held', { reply: '535 5.7.139' })]);
  });

  it('holdJob holds the job the SEND names, with the reason of the state it stays in', () => {
    const d = draftOf([job('j3', 'queued')]);
    applyRecords(d, stepFrom('reauthRequired', { lastError: { reason: 'invalid-grant', code: null, reply: null } }, { type: 'SEND', jobId: 'j3' }));
    expect(d.spool).toEqual([job('j3', 'held', { reply: 'held: re-authentication required (invalid-grant)', updatedAt: NOW })]);
  });
});

describe('records that follow from where the step went', () => {
  it('a grant releases held jobs and leaves queued and sending ones as they were', () => {
    const d = draftOf([job('h', 'held', { reply: 'held: sign-in in progress' }), job('q', 'queued'), job('s', 'sending')]);
    applyRecords(d, stepFrom({ signingIn: 'codePending' }, {}, { type: 'TOKEN_GRANTED', account: ME, accessTokenExpiresAt: NOW + 3_600_000 }));
    expect(d.spool).toEqual([job('h', 'queued', { reply: 'held: sign-in in progress', updatedAt: NOW }), job('q', 'queued'), job('s', 'sending')]);
  });

  it('entering sending counts an attempt on the job; a step within sending does not', () => {
    const d = draftOf([job('j1', 'queued', { attempts: 2 })]);
    applyRecords(d, stepFrom({ signedIn: 'authorized' }, {}, { type: 'SEND', jobId: 'j1' }));
    expect(d.spool).toEqual([job('j1', 'sending', { attempts: 3, updatedAt: NOW })]);

    const within = draftOf([job('j1', 'sending', { attempts: 3 })]);
    applyRecords(within, stepFrom({ signedIn: 'sending' }, { jobId: 'j1' }, { type: 'ACCESS_TOKEN_DEADLINE' }));
    expect(within.spool).toEqual([job('j1', 'sending', { attempts: 3 })]);
  });

  it('sendFailure parks the job: queued with a retry scheduled, held without; the reply is the server’s or null', () => {
    const transient = draftOf([job('j1', 'sending', { attempts: 1 })]);
    const retryAt = NOW + 30_000;
    applyRecords(transient, stepFrom({ signedIn: 'sending' }, { jobId: 'j1' }, { type: 'SEND_FAILED', category: 'throttled', transient: true, retryAt, ...fail, reply: '451 4.7.500 slow down' }));
    expect(transient.spool).toEqual([job('j1', 'queued', { attempts: 1, reply: '451 4.7.500 slow down', updatedAt: NOW })]);

    const permanent = draftOf([job('j1', 'sending', { attempts: 1 })]);
    applyRecords(permanent, stepFrom({ signedIn: 'sending' }, { jobId: 'j1' }, { type: 'SEND_FAILED', category: 'quota', transient: false, retryAt: null, reason: 'quota', code: null }));
    expect(permanent.spool).toEqual([job('j1', 'held', { attempts: 1, reply: null, updatedAt: NOW })]);
  });
});

describe('records after a restart', () => {
  it('a failed job restored without a last error (an older snapshot) stays held with no reply', () => {
    const d = draftOf([job('j1', 'held', { attempts: 1 })]);
    applyRecords(d, stepFrom({ signedIn: 'sendFailure' }, { jobId: 'j1', retryAt: null, lastError: null }, { type: 'POWER_CYCLE', accessDeadlinePassed: false }));
    expect(d.spool).toEqual([job('j1', 'held', { attempts: 1, reply: null, updatedAt: NOW })]);
  });
});

describe('which steps write records and log lines', () => {
  it('declaresRecords names exactly the record actions', () => {
    for (const name of ['holdJob', 'completeJob', 'failJob', 'requeueJob']) expect(declaresRecords({ actions: new Set([name]) }), name).toBe(true);
    expect(declaresRecords({ actions: new Set(['deleteTokens', 'submitJob', 'storeAccount']) })).toBe(false);
  });

  it('a step that changes no state logs nothing unless it held a job', () => {
    const deadline = stepFrom({ signedIn: 'sending' }, { jobId: 'j1' }, { type: 'ACCESS_TOKEN_DEADLINE' });
    expect(transitionEntry(deadline, false)).toBeNull();
    const hold = stepFrom('ready', {}, { type: 'SEND', jobId: 'j1' });
    expect(transitionEntry(hold, false)).toEqual({ at: NOW, kind: 'transition', message: 'ready → ready on SEND' });
    expect(transitionEntry(deadline, true)).toEqual({ at: NOW, kind: 'transition', message: 'sending → sending on ACCESS_TOKEN_DEADLINE' });
  });

  it('the job log keeps the newest JOB_LOG_LIMIT jobs', () => {
    const full = draftOf([], Array.from({ length: JOB_LOG_LIMIT }, (_, i) => job(`j${i}`, 'sent')));
    trimLogs(full);
    expect(full.jobLog).toHaveLength(JOB_LOG_LIMIT);
    expect(full.jobLog[0]!.id).toBe('j0');
    const over = draftOf([], Array.from({ length: JOB_LOG_LIMIT + 2 }, (_, i) => job(`j${i}`, 'sent')));
    trimLogs(over);
    expect(over.jobLog.map((j) => j.id)).toEqual(Array.from({ length: JOB_LOG_LIMIT }, (_, i) => `j${i + 2}`));
  });
});

describe('hold reasons', () => {
  it('say why, in the panel’s words, for each waiting state', () => {
    expect(holdReason('unconfigured', null)).toBe('held: OAuth 2.0 is not configured');
    expect(holdReason('reauthRequired', null)).toBe('held: re-authentication required');
    expect(holdReason('reauthRequired', { reason: 'invalid-client', code: null, reply: null })).toBe('held: re-authentication required (invalid-client)');
    expect(holdReason('requestingCode', null)).toBe('held: sign-in in progress');
    expect(holdReason('codePending', null)).toBe('held: sign-in in progress');
    expect(holdReason('requestingToken', null)).toBe('held: requesting an app-only token');
    expect(holdReason('ready', null)).toBe('held: not signed in to Microsoft');
  });
});
