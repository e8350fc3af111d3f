/**
 * RFC 7807 problem documents of the control API's route groups that answer with them (holds, journal, throttling):
 * the one schema their OpenAPI responses name, and the one error handler each group installs.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

export const problemSchema = {
  type: 'object',
  description: 'RFC 7807 problem details',
  properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' } },
} as const;

export interface ProblemHandlerOptions {
  /** The group's own typed error, as the status it answers with (null: not one of its errors). */
  statusOf?: (err: unknown) => number | null;
  /** Titles by status where the group says more than "Bad request" or "Twin failure". */
  titles?: Readonly<Record<number, string>>;
  /** Logged with an unexpected failure. */
  logMessage: string;
  /** The detail an unexpected failure answers with (its own message stays in the log). */
  failureDetail: string;
}

/**
 * The group's refusals with their status, Fastify's own 4xx (schema validation, a body too large) as they are, and
 * anything else a logged 500 whose detail names what failed, not how.
 */
export function problemErrorHandler(o: ProblemHandlerOptions) {
  const send = (reply: FastifyReply, status: number, detail: string) =>
    reply
      .code(status)
      .type('application/problem+json')
      .send({ type: 'about:blank', title: o.titles?.[status] ?? (status >= 500 ? 'Twin failure' : 'Bad request'), status, detail });
  return (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const own = o.statusOf?.(err) ?? null;
    if (own !== null) return send(reply, own, err.message);
    if (err.statusCode && err.statusCode < 500) return send(reply, err.statusCode, err.message);
    req.log.error({ err }, o.logMessage);
    return send(reply, 500, o.failureDetail);
  };
}
