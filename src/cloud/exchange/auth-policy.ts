/**
 * Tenant and mailbox rules that decide whether a mailbox holding a valid token may use SMTP AUTH, in the order the
 * twin applies them. Kept apart from the SMTP wiring so the decision table can be read (and tested) on its own.
 */
import type { DirectoryUser, TenantPolicy } from '../contracts.ts';

export type AuthPolicyOutcome =
  | { allowed: true }
  | {
      allowed: false;
      /** Which 535 reply to give. `unknown-user` and `user-disabled` answer like a bad token (5.7.3): to Exchange a
       * token for an account it cannot use is as good as no token. */
      reason: 'unknown-user' | 'user-disabled' | 'smtp-auth-disabled-mailbox' | 'smtp-auth-disabled-tenant' | 'security-defaults';
    };

/**
 * Order: the account must exist and be enabled; then the SMTP AUTH switch (a per-mailbox `true` overrides a tenant
 * `false`, a per-mailbox `false` wins over a tenant `true`, `null` follows the tenant; the reply names whichever level
 * turned it off); then security defaults, which block SMTP AUTH even where the switch allows it.
 */
export function evaluateSmtpAuth(user: DirectoryUser | undefined, policy: TenantPolicy): AuthPolicyOutcome {
  if (!user) return { allowed: false, reason: 'unknown-user' };
  if (!user.enabled) return { allowed: false, reason: 'user-disabled' };
  if (user.smtpAuthEnabled === false) return { allowed: false, reason: 'smtp-auth-disabled-mailbox' };
  if (user.smtpAuthEnabled === null && !policy.smtpAuthEnabled) return { allowed: false, reason: 'smtp-auth-disabled-tenant' };
  if (policy.securityDefaults) return { allowed: false, reason: 'security-defaults' };
  return { allowed: true };
}

/** The addresses a mailbox may put in MAIL FROM or the header From: itself and its Send As grants. */
export function maySendAs(user: DirectoryUser, address: string): boolean {
  const wanted = address.trim().toLowerCase();
  if (!wanted) return false;
  return wanted === user.upn.toLowerCase() || user.sendAs.some((a) => a.trim().toLowerCase() === wanted);
}
