/**
 * `expect` steps: each check compares what the scenario says with what the device, its NVRAM and the twin show,
 * and yields a difference (what, expected, actual) when they disagree. An empty list means the step passed.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Simulator } from '../sim/types.ts';
import type { Expectation, JobExpectation, MailboxExpectation } from './schema.ts';
import { codeIs, codeText } from '../device/failures.ts';

export interface Difference {
  what: string;
  expected: unknown;
  actual: unknown;
}

export interface ExpectationWorld {
  sim: Simulator;
  /** Job label → job id, from the submitJob steps so far. */
  labels: ReadonlyMap<string, string>;
  /** Every token string the device held at any point of the run (for the NVRAM check). */
  tokensSeen: ReadonlySet<string>;
}

export async function checkExpectation(e: Expectation, world: ExpectationWorld): Promise<Difference[]> {
  const { sim } = world;
  const device = sim.device;
  const status = device.status();
  const diffs: Difference[] = [];

  if (e.state !== undefined) {
    const want = Array.isArray(e.state) ? e.state : [e.state];
    if (!want.includes(status.state)) diffs.push({ what: 'state', expected: want.join(' | '), actual: status.state });
  }
  if (e.lastError !== undefined) {
    const actual = status.lastError;
    if (e.lastError === null) {
      if (actual !== null) diffs.push({ what: 'lastError', expected: null, actual });
    } else {
      if (e.lastError.reason !== undefined && actual?.reason !== e.lastError.reason) {
        diffs.push({ what: 'lastError.reason', expected: e.lastError.reason, actual: actual?.reason ?? null });
      }
      // Scenario files write a code as people read it ("AADSTS50173", "5.7.139"); the device's is tagged by kind.
      if (e.lastError.code !== undefined && !codeIs(actual?.code ?? null, e.lastError.code)) {
        diffs.push({ what: 'lastError.code', expected: e.lastError.code, actual: codeText(actual?.code ?? null) });
      }
    }
  }
  if (e.account !== undefined && status.account !== e.account) {
    diffs.push({ what: 'account', expected: e.account, actual: status.account });
  }
  if (e.clock) diffs.push(...checkClock(e.clock, sim));
  for (const [label, want] of Object.entries(e.jobs ?? {})) diffs.push(...checkJob(label, want, world));
  const mailboxes = e.mailbox === undefined ? [] : Array.isArray(e.mailbox) ? e.mailbox : [e.mailbox];
  for (const m of mailboxes) diffs.push(...checkMailbox(m, sim));
  if (e.nvram) diffs.push(...(await checkNvram(e.nvram, world)));
  if (e.eventLog) {
    const entries = device.eventLog().map((x) => `${x.kind}: ${x.message}`);
    for (const text of Array.isArray(e.eventLog.contains) ? e.eventLog.contains : [e.eventLog.contains]) {
      if (!entries.some((line) => line.includes(text))) {
        diffs.push({ what: 'eventLog', expected: `an entry containing "${text}"`, actual: entries.slice(-5) });
      }
    }
  }
  return diffs;
}

function checkClock(want: NonNullable<Expectation['clock']>, sim: Simulator): Difference[] {
  const c = sim.deviceClock.status();
  const skew = Math.abs(c.now - sim.clock.now());
  const diffs: Difference[] = [];
  if (want.skewAtMost !== undefined && skew > want.skewAtMost) diffs.push({ what: 'clock.skew', expected: `at most ${want.skewAtMost} ms`, actual: skew });
  if (want.skewAtLeast !== undefined && skew < want.skewAtLeast) diffs.push({ what: 'clock.skew', expected: `at least ${want.skewAtLeast} ms`, actual: skew });
  if (want.before !== undefined && !(c.now < Date.parse(want.before))) {
    diffs.push({ what: 'clock.now', expected: `before ${want.before}`, actual: new Date(c.now).toISOString() });
  }
  if (want.ntpEnabled !== undefined && c.ntpEnabled !== want.ntpEnabled) diffs.push({ what: 'clock.ntpEnabled', expected: want.ntpEnabled, actual: c.ntpEnabled });
  if (want.lastSync !== undefined) {
    const actual = c.lastSync === null ? 'none' : c.lastSync.ok ? 'ok' : 'failed';
    if (actual !== want.lastSync) diffs.push({ what: 'clock.lastSync', expected: want.lastSync, actual: c.lastSync ?? 'none' });
  }
  return diffs;
}

/** A job's status as the device reports it, by label ("(unknown)" when the label or the record is gone). */
export function jobStatusOf(label: string, world: Pick<ExpectationWorld, 'sim' | 'labels'>): string {
  const id = world.labels.get(label);
  if (!id) return '(no job with this label yet)';
  return world.sim.device.job(id)?.status ?? '(no longer in the job log)';
}

function checkJob(label: string, want: JobExpectation, world: ExpectationWorld): Difference[] {
  const id = world.labels.get(label);
  const job = id ? world.sim.device.job(id) : undefined;
  const expected = typeof want === 'string' ? { status: want } : want;
  if (!job) return [{ what: `jobs.${label}`, expected, actual: jobStatusOf(label, world) }];
  const diffs: Difference[] = [];
  if (expected.status !== undefined && job.status !== expected.status) {
    diffs.push({ what: `jobs.${label}.status`, expected: expected.status, actual: `${job.status}${job.reply ? ` (${job.reply})` : ''}` });
  }
  if (expected.attempts !== undefined && job.attempts !== expected.attempts) {
    diffs.push({ what: `jobs.${label}.attempts`, expected: expected.attempts, actual: job.attempts });
  }
  if (expected.replyContains !== undefined && !(job.reply ?? '').includes(expected.replyContains)) {
    diffs.push({ what: `jobs.${label}.reply`, expected: `containing "${expected.replyContains}"`, actual: job.reply });
  }
  return diffs;
}

function checkMailbox(m: MailboxExpectation, sim: Simulator): Difference[] {
  if (!sim.twin) return [{ what: `mailbox ${m.upn}`, expected: 'a twin to read it from', actual: 'no twin' }];
  const all = sim.twin.control.messages(m.upn);
  const messages = m.folder ? all.filter((x) => x.folder === m.folder) : all;
  const where = `mailbox ${m.upn}${m.folder ? ` ${m.folder}` : ''}`;
  const diffs: Difference[] = [];
  if (m.count !== undefined && messages.length !== m.count) {
    diffs.push({ what: `${where} count`, expected: m.count, actual: messages.length });
  }
  if (m.subject !== undefined && !messages.some((x) => x.subject === m.subject)) {
    diffs.push({ what: `${where} subject`, expected: m.subject, actual: messages.slice(-5).map((x) => x.subject) });
  }
  return diffs;
}

/** The image file's bytes must not hold a token the device ever had, nor any string the scenario names. */
async function checkNvram(want: NonNullable<Expectation['nvram']>, world: ExpectationWorld): Promise<Difference[]> {
  const image = (await readFile(path.join(world.sim.stateDir, 'nvram.json'))).toString('latin1');
  const diffs: Difference[] = [];
  if (want.noTokenText) {
    const tokens = new Set([...world.tokensSeen, ...tokensHeld(world.sim)]);
    const found = [...tokens].filter((t) => image.includes(t));
    // Never print a token: say how many and what kind of string it was.
    if (found.length > 0) diffs.push({ what: 'nvram token text', expected: 'none in the image', actual: `${found.length} token(s) in plain text` });
    if (tokens.size === 0) diffs.push({ what: 'nvram token text', expected: 'a run that got tokens to look for', actual: 'no token was ever issued' });
  }
  for (const text of want.excludes ?? []) {
    if (image.includes(text)) diffs.push({ what: 'nvram contents', expected: `no "${text}"`, actual: 'present in the image' });
  }
  return diffs;
}

/** Token strings in the device's sealed MSAL cache right now (read through the vault, in memory only). */
export function tokensHeld(sim: Simulator): string[] {
  return sim.device.heldTokenTexts();
}
