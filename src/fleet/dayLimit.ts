/**
 * The fleet's day phase against the limit the same machine sets (issue 16): every day mail as a bare submission
 * (src/fleet/bareMailLimit.ts: one HTTPS token request + nodemailer → smtp-server XOAUTH2 over STARTTLS), spread over
 * the cores — mails × bare ms per mail ÷ cores. Measured right after the run, in the same process, with the fleet's
 * own twin certificates, so both sides see the same machine and load.
 */
import os from 'node:os';
import { bareMailLimit } from './bareMailLimit.ts';
import { FLEET_SMTP_GREETING_DELAY_MS } from './slice.ts';
import type { DayLimit, FleetReport } from './types.ts';

export async function measureDayLimit(report: FleetReport, credentialsDir: string, opts: { bareMails?: number; cores?: number } = {}): Promise<DayLimit> {
  const bare = await bareMailLimit(credentialsDir, { mails: opts.bareMails ?? 100, greetingDelayMs: FLEET_SMTP_GREETING_DELAY_MS });
  return dayLimit(report, bare.msPerMail, bare.mails, opts.cores ?? os.availableParallelism());
}

/** The arithmetic alone: the day's mails are the printers × the mails of the day phase (the morning's are not counted). */
export function dayLimit(report: FleetReport, bareMsPerMail: number, bareMails: number, cores: number): DayLimit {
  const dayMails = report.rows.length * report.options.mailsPerDay;
  const limitMs = (dayMails * bareMsPerMail) / cores;
  const dayWallMs = report.phaseWallMs.day ?? 0;
  return { bareMsPerMail, bareMails, dayMails, cores, limitMs, dayWallMs, ratio: limitMs > 0 ? dayWallMs / limitMs : 0 };
}
