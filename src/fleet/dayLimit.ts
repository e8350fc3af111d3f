/**
 * The fleet's day phase against the limit the same machine sets (issue 16): every day mail as a bare submission
 * (src/fleet/bareMailLimit.ts: one HTTPS token request + nodemailer → smtp-server XOAUTH2 over STARTTLS), spread over
 * the cores — mails × bare ms per mail ÷ cores. Timed in the same process with the fleet's own twin certificates,
 * once before the run and once after it, and the limit uses their mean: one batch after the run moved by 45 % between
 * runs minutes apart (11.6–16.8 ms), so a batch on each side of the day follows the machine across it, and the
 * report shows how far the two lie apart.
 */
import os from 'node:os';
import { bareMailLimit, type BareLimit } from './bareMailLimit.ts';
import { FLEET_SMTP_GREETING_DELAY_MS } from './slice.ts';
import type { DayLimit, FleetReport } from './types.ts';

/** One batch of bare mails, with the twin certificates in `credentialsDir` (a prepared fleet state directory's). */
export function measureBareMails(credentialsDir: string, mails = 100): Promise<BareLimit> {
  return bareMailLimit(credentialsDir, { mails, greetingDelayMs: FLEET_SMTP_GREETING_DELAY_MS });
}

/** The arithmetic alone: the day's mails are the printers × the mails of the day phase (the morning's are not counted). */
export function dayLimit(report: FleetReport, bare: { before: BareLimit; after: BareLimit }, cores = os.availableParallelism()): DayLimit {
  const bareMails = bare.before.mails + bare.after.mails;
  const meanOfBoth = (of: (b: BareLimit) => number) => (of(bare.before) * bare.before.mails + of(bare.after) * bare.after.mails) / bareMails;
  const bareMsPerMail = meanOfBoth((b) => b.msPerMail);
  const dayMails = report.rows.length * report.options.mailsPerDay;
  const limitMs = (dayMails * bareMsPerMail) / cores;
  const dayWallMs = report.phaseWallMs.day ?? 0;
  return {
    bareMsPerMail,
    bareMails,
    bareBeforeMsPerMail: bare.before.msPerMail,
    bareAfterMsPerMail: bare.after.msPerMail,
    bareCpuMsPerMail: meanOfBoth((b) => b.cpuMsPerMail),
    dayCpuMsPerMail: dayMails > 0 ? (report.phaseCpuMs?.day ?? 0) / dayMails : 0,
    dayMails,
    cores,
    limitMs,
    dayWallMs,
    ratio: limitMs > 0 ? dayWallMs / limitMs : 0,
  };
}
