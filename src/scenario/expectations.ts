/**
 * `expect` steps: each check compares what the scenario says with what the printer (through the one interface), its
 * NVRAM image and the twin show, and yields a difference (what, expected, actual) when they disagree. An empty list
 * means the step passed. A check the stage cannot make is reported through `skip` (listed, never passed).
 */
import type { Expectation, JobExpectation, MailboxExpectation } from './schema.ts';
import type { ScenarioPrinter, ScenarioStage } from './stage.ts';
import { codeIs, codeText } from '../device/failures.ts';

export interface Difference {
  what: string;
  expected: unknown;
  actual: unknown;
}

export interface ExpectationWorld {
  stage: ScenarioStage;
  /** Job label → job id, from the submitJob steps so far. */
  labels: ReadonlyMap<string, string>;
  /** Messages each mailbox held when the scenario started (key: `mailboxKey`): counts are of what the run put there. */
  mailboxBaseline: ReadonlyMap<string, number>;
  /** A check this stage cannot make: listed with its reason (and the capability that would make it). */
  skip(reason: string, capability?: string): void;
}

export const mailboxKey = (m: { upn: string; folder?: string }): string => `${m.upn} ${m.folder ?? ''}`;

export async function checkExpectation(e: Expectation, world: ExpectationWorld): Promise<Difference[]> {
  const { stage } = world;
  const printer = stage.printer;
  const status = await printer.status();
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
      // Scenario files write a code as people read it ("AADSTS50173", "5.7.139"); the printer's is tagged by kind.
      if (e.lastError.code !== undefined && !codeIs(actual?.code ?? null, e.lastError.code)) {
        diffs.push({ what: 'lastError.code', expected: e.lastError.code, actual: codeText(actual?.code ?? null) });
      }
    }
  }
  if (e.account !== undefined && status.account !== e.account) {
    diffs.push({ what: 'account', expected: e.account, actual: status.account });
  }
  if (e.clock) diffs.push(...checkClock(e.clock, world));
  for (const [label, want] of Object.entries(e.jobs ?? {})) diffs.push(...(await checkJob(label, want, world)));
  const mailboxes = e.mailbox === undefined ? [] : Array.isArray(e.mailbox) ? e.mailbox : [e.mailbox];
  for (const m of mailboxes) diffs.push(...(await checkMailbox(m, world)));
  if (e.nvram) diffs.push(...(await checkNvram(e.nvram, world)));
  if (e.eventLog) {
    if (stage.noEventLog) world.skip(`expect.eventLog: ${stage.noEventLog.reason}`, stage.noEventLog.capability);
    else {
      const entries = (await printer.eventLog()).map((x) => `${x.kind}: ${x.message}`);
      for (const text of Array.isArray(e.eventLog.contains) ? e.eventLog.contains : [e.eventLog.contains]) {
        if (!entries.some((line) => line.includes(text))) {
          diffs.push({ what: 'eventLog', expected: `an entry containing "${text}"`, actual: entries.slice(-5) });
        }
      }
    }
  }
  return diffs;
}

function checkClock(want: NonNullable<Expectation['clock']>, world: ExpectationWorld): Difference[] {
  const { deviceClock, worldNow } = world.stage;
  if (!deviceClock || !worldNow) {
    world.skip('expect.clock: this printer offers no look at its device clock (RTC, NTP)');
    return [];
  }
  const c = deviceClock.status();
  const skew = Math.abs(c.now - worldNow());
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

/** A job's status as the printer reports it, by label (a text saying so when the label or the record is gone). */
export async function jobStatusOf(label: string, world: { stage: { printer: ScenarioPrinter }; labels: ReadonlyMap<string, string> }): Promise<string> {
  const id = world.labels.get(label);
  if (!id) return '(no job with this label yet)';
  return (await world.stage.printer.job(id))?.status ?? '(no longer in the job log)';
}

async function checkJob(label: string, want: JobExpectation, world: ExpectationWorld): Promise<Difference[]> {
  const id = world.labels.get(label);
  const job = id ? await world.stage.printer.job(id) : undefined;
  const expected = typeof want === 'string' ? { status: want } : want;
  if (!job) return [{ what: `jobs.${label}`, expected, actual: await jobStatusOf(label, world) }];
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

async function checkMailbox(m: MailboxExpectation, world: ExpectationWorld): Promise<Difference[]> {
  const twin = world.stage.twin;
  if (!twin) return [{ what: `mailbox ${m.upn}`, expected: 'a twin to read it from', actual: 'no twin' }];
  const all = await twin.messages(m.upn);
  // Counted from the scenario's start: a running twin may hold earlier runs' mail.
  const messages = (m.folder ? all.filter((x) => x.folder === m.folder) : all).slice(world.mailboxBaseline.get(mailboxKey(m)) ?? 0);
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

/** The image's bytes must not hold a token the printer ever had, nor any string the scenario names. */
async function checkNvram(want: NonNullable<Expectation['nvram']>, world: ExpectationWorld): Promise<Difference[]> {
  const { printer } = world.stage;
  const diffs: Difference[] = [];
  if (want.noTokenText) {
    if (!printer.secretAudit) world.skip('expect.nvram.noTokenText: the printer offers no secret audit of its image (the tokens it holds are not visible from outside)', 'secretAudit');
    else {
      const { tokens, inImage } = await printer.secretAudit.check();
      // Never print a token: say how many.
      if (inImage > 0) diffs.push({ what: 'nvram token text', expected: 'none in the image', actual: `${inImage} token(s) in plain text` });
      if (tokens === 0) diffs.push({ what: 'nvram token text', expected: 'a run that got tokens to look for', actual: 'no token was ever issued' });
    }
  }
  if (want.excludes?.length) {
    if (!printer.nvramImage) world.skip('expect.nvram.excludes: the printer offers no NVRAM view', 'nvramImage');
    else {
      const image = await printer.nvramImage.image();
      for (const text of want.excludes) {
        if (image.includes(text)) diffs.push({ what: 'nvram contents', expected: `no "${text}"`, actual: 'present in the image' });
      }
    }
  }
  return diffs;
}
