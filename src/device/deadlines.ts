/**
 * The statechart's deadlines: which ones a state listens for, when each falls due, and which passed while the
 * printer was off. The one statement of these rules: the runtime arms its scheduler from `armedDeadlines`, boots
 * with `accessDeadlinePassed`, and the model of src/mbt/ imports the same functions, so the model-based tests check
 * the rule itself rather than a copy of it.
 */
import type { DeviceContext, DeviceEvent } from '../../machines/oauthDevice.ts';

export type DeadlineEvent = 'CODE_DEADLINE' | 'ACCESS_TOKEN_DEADLINE' | 'RETRY_DUE';
export type Deadlines = Partial<Record<DeadlineEvent, number>>;

/** ACCESS_TOKEN_DEADLINE falls due this long before the token really expires (MSAL uses 5 minutes). */
export const ACCESS_TOKEN_SKEW_MS = 5 * 60_000;

/** What the rules need of a statechart snapshot (xstate's snapshot has both). */
export interface DeadlineView {
  readonly context: DeviceContext;
  can(event: DeviceEvent): boolean;
}

/** When the access token's deadline falls due (null: no token). */
export function accessTokenDeadline(context: DeviceContext): number | null {
  return context.accessTokenExpiresAt === null ? null : context.accessTokenExpiresAt - ACCESS_TOKEN_SKEW_MS;
}

/** The deadlines the current state listens for, with the clock time each falls due. */
export function armedDeadlines(snapshot: DeadlineView): Deadlines {
  const c = snapshot.context;
  const d: Deadlines = {};
  if (c.codeExpiresAt !== null && snapshot.can({ type: 'CODE_DEADLINE' })) d.CODE_DEADLINE = c.codeExpiresAt;
  const access = accessTokenDeadline(c);
  if (access !== null && snapshot.can({ type: 'ACCESS_TOKEN_DEADLINE' })) d.ACCESS_TOKEN_DEADLINE = access;
  if (c.retryAt !== null && snapshot.can({ type: 'RETRY_DUE' })) d.RETRY_DUE = c.retryAt;
  return d;
}

/** At boot: whether the access token's deadline passed while the printer was off (POWER_CYCLE's flag). */
export function accessDeadlinePassed(context: DeviceContext, now: number): boolean {
  const access = accessTokenDeadline(context);
  return access !== null && now >= access;
}
