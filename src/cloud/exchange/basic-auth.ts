/**
 * Basic SMTP AUTH (AUTH LOGIN / AUTH PLAIN with the directory's password) and its retirement on Microsoft's calendar
 * (microsoft-protocol-facts.md, "Basic SMTP AUTH retirement"), evaluated on the twin's clock so a scenario can jump
 * across 31 December 2026.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { BasicAuthCalendar } from '../auth-methods-fixture.ts';
import type { CloudDirectory } from '../contracts.ts';
import type { ExchangeReplies } from './replies.ts';

/** Where the tenant stands on the calendar at one instant. */
export type BasicAuthStatus = 'allowed' | 'disabled' | 'removed';

export type BasicAuthPatch = Partial<{
  disabledByDefaultFrom: number;
  adminReEnabled: boolean;
  finalRemovalAt: number | null;
  tenantCreatedAt: number;
}>;

/** The tenant's basic-auth policy: the calendar plus the administrator's re-enable switch. */
export class BasicAuthPolicy {
  private calendar: BasicAuthCalendar;

  constructor(calendar: BasicAuthCalendar) {
    this.calendar = { ...calendar };
  }

  view(): BasicAuthCalendar {
    return { ...this.calendar };
  }

  patch(p: BasicAuthPatch): BasicAuthCalendar {
    this.calendar = { ...this.calendar, ...Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) };
    return this.view();
  }

  /**
   * Removal wins over everything; before it, basic auth is off by default once the date has passed (or from the
   * start for a tenant created after it), unless the administrator turned it back on.
   */
  status(now: number): BasicAuthStatus {
    const c = this.calendar;
    if (c.finalRemovalAt !== null && now >= c.finalRemovalAt) return 'removed';
    const offByDefault = now >= c.disabledByDefaultFrom || c.tenantCreatedAt >= c.disabledByDefaultFrom;
    return offByDefault && !c.adminReEnabled ? 'disabled' : 'allowed';
  }

  /**
   * SASL mechanisms EHLO lists after STARTTLS. Exchange lists LOGIN as long as basic auth exists for the tenant (also
   * while it is off, as it does with SMTP AUTH off: the client then gets the 5.7.139 reply); once removed only
   * XOAUTH2. PLAIN is accepted but, as on the real service, not listed.
   */
  advertised(now: number): string[] {
    return this.status(now) === 'removed' ? ['XOAUTH2'] : ['LOGIN', 'XOAUTH2'];
  }
}

/** Checks a password against the directory's (test data); constant time over the hashes. */
export type PasswordCheck = (upn: string, password: string) => boolean;

export function passwordMatches(expected: string, given: string): boolean {
  const a = createHash('sha256').update(expected, 'utf8').digest();
  const b = createHash('sha256').update(given, 'utf8').digest();
  return timingSafeEqual(a, b);
}

export interface BasicLogin {
  username?: string | null;
  password?: string | null;
}

/**
 * The basic half of onAuth: the calendar first (a retired mechanism is refused whatever the password), then the
 * password and the account (5.7.3 either way, as Exchange does not say which). Returns the mailbox; the SMTP AUTH
 * switches and security defaults are applied afterwards by the caller, as for XOAUTH2.
 */
export function authenticateBasic(
  login: BasicLogin,
  deps: { policy: BasicAuthPolicy; directory: CloudDirectory; checkPassword: PasswordCheck; replies: ExchangeReplies; now: number },
): string {
  const status = deps.policy.status(deps.now);
  if (status === 'removed') throw deps.replies.basicAuthRemoved();
  if (status === 'disabled') throw deps.replies.basicAuthDisabled(deps.now);
  const upn = (login.username ?? '').trim().toLowerCase();
  const user = upn ? deps.directory.user(upn) : undefined;
  if (!user || !user.enabled || !deps.checkPassword(upn, login.password ?? '')) throw deps.replies.badToken(); // same 5.7.3 as a bad token
  return upn;
}
