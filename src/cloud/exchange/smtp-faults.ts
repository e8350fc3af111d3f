/**
 * Applies a scripted fault (src/cloud/faults.ts) at one stage of an SMTP session: answer a given reply, wait, or cut
 * the connection. HTTP-only actions mean nothing to SMTP and are ignored (logged), so a plan aimed at the wrong
 * target does not silently turn into some other failure.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultAction, FaultPlan, FaultTarget } from '../contracts.ts';
import { SmtpReplyError } from './replies.ts';

export type SmtpFaultTarget = Extract<FaultTarget, `smtp.${string}`>;

/** What the stage must do after the fault plan had its say. */
export type FaultOutcome = { kind: 'proceed' } | { kind: 'reply'; error: SmtpReplyError } | { kind: 'dropped' };

/** `instead`: the action a released hold chose for this stage (holds.ts); it replaces the plan's, left untouched. */
export async function applySmtpFault(
  faults: FaultPlan,
  target: SmtpFaultTarget,
  drop: () => void,
  warn: (msg: string) => void,
  instead: FaultAction | null = null,
): Promise<FaultOutcome> {
  const action = instead ?? faults.take(target);
  if (!action) return { kind: 'proceed' };
  switch (action.kind) {
    case 'reply':
      return { kind: 'reply', error: SmtpReplyError.fromReplyLine(action.reply) };
    case 'delay':
      // Wall time on purpose (the fault contract says so): the point is a slow server as the client's timers see it.
      await sleep(Math.max(0, action.ms));
      return { kind: 'proceed' };
    case 'drop':
      drop();
      return { kind: 'dropped' };
    default:
      warn(`fault action "${action.kind}" has no meaning for ${target}; ignored`);
      return { kind: 'proceed' };
  }
}
