/**
 * The scripted day every printer of a fleet lives through, on virtual time (VirtualClock starts Monday 08:00 UTC):
 *  08:00  sign-in (device code, approved by the user through the twin's control API)
 *  09:00… one mail an hour (`mailsPerDay` of them); tokens expire on the way and are refreshed before a send
 *  21:00  power off for the night, 10 h off, power on at 07:00
 *  08:00  a morning mail: the access token died overnight, so every printer refreshes first
 */
export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;

export const FIRST_MAIL_AFTER_MS = HOUR;
export const MAIL_EVERY_MS = HOUR;
export const POWER_OFF_AFTER_MS = 13 * HOUR;
export const NIGHT_OFF_MS = 10 * HOUR;
export const MORNING_MAIL_AFTER_MS = 24 * HOUR;

/** printer-0001 … printer-1000: the folder, the printer's name and its mailbox's local part. */
export function printerId(index: number): string {
  return `printer-${String(index + 1).padStart(4, '0')}`;
}

export function printerUpn(index: number, domain = 'contoso.com'): string {
  return `${printerId(index)}@${domain}`;
}

/** What the admin types on each printer's panel: Microsoft's names, the printer's own mailbox as sender and user. */
export function printerSettings(upn: string) {
  return {
    smtpServerName: 'smtp.office365.com',
    smtpPort: 587,
    useSecureConnection: true,
    authMethod: 'oauth2ExchangeOnline',
    authEmailAddress: upn,
    authUsername: upn,
    adminEmailAddress: upn,
  } as const;
}

/** Mails one printer sends in the whole script. */
export function mailsPerPrinter(mailsPerDay: number): number {
  return mailsPerDay + 1;
}

/** Progress units per device: boot, sign-in, each day mail, the night, the morning mail, the check. */
export function progressUnitsPerDevice(mailsPerDay: number): number {
  return 5 + mailsPerDay;
}
