/**
 * RFC 7807 problem documents of the control API: the answer itself (also the access check's, in
 * src/cloud/entra/server.ts), the schema that the route groups answering with them name (holds, journal,
 * throttling), and the error handler each of those groups installs.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

export const problemSchema = {
  type: 'object',
  description: 'RFC 7807 problem details',
  properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' } },
} as const;

/** An RFC 7807 problem answer. */
export function sendProblem(reply: FastifyReply, status: number, title: string, detail: string): FastifyReply {
  return reply.code(status).type('application/problem+json').send({ type: 'about:blank', title, status, detail });
}

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
    sendProblem(reply, status, o.titles?.[status] ?? (status >= 500 ? 'Twin failure' : 'Bad request'), detail);
  return (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const own = o.statusOf?.(err) ?? null;
    if (own !== null) return send(reply, own, err.message);
    if (err.statusCode && err.statusCode < 500) return send(reply, err.statusCode, err.message);
    req.log.error({ err }, o.logMessage);
    return send(reply, 500, o.failureDetail);
  };
}
