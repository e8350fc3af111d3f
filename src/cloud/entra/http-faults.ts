/** Applies a scripted fault (see FaultPlan) to an HTTP endpoint of the twin, before the normal answer. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FaultAction, FaultPlan, FaultTarget } from '../contracts.ts';
import { EntraError } from './errors.ts';

/**
 * 'handled' when the fault answered (or dropped) the request; 'continue' to answer normally. `instead` is the action
 * a released hold chose for this request (holds.ts): it replaces the plan's, which is then left untouched.
 */
export async function applyHttpFault(
  faults: FaultPlan,
  target: FaultTarget,
  request: FastifyRequest,
  reply: FastifyReply,
  instead: FaultAction | null = null,
): Promise<'handled' | 'continue'> {
  const action = instead ?? faults.take(target);
  if (!action) return 'continue';
  switch (action.kind) {
    case 'error':
      // Thrown so the route's error handler writes Microsoft's body.
      throw new EntraError({
        error: action.error,
        aadsts: action.aadsts,
        description: action.description ?? `Simulated ${action.error} (twin fault).`,
        suberror: action.suberror,
        status: action.status ?? 400,
      });
    case 'http':
      await reply.code(action.status).header('content-length', '0').send();
      return 'handled';
    case 'throttle':
      await reply.code(429).header('retry-after', String(action.retryAfterSeconds)).header('content-length', '0').send();
      return 'handled';
    case 'delay':
      await sleep(action.ms);
      return 'continue';
    case 'drop':
      reply.hijack();
      request.raw.socket.destroy();
      return 'handled';
    case 'reply':
      // An SMTP reply has no meaning on HTTP; behave normally.
      return 'continue';
  }
}
