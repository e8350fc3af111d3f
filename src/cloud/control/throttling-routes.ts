/**
 * /_twin/throttling: the tenant's throttling policy (src/cloud/throttling.ts) and the traffic it counted per virtual
 * second. Registered inside the /_twin plugin (its access check and OpenAPI document); a refused policy is an
 * RFC 7807 problem document and changes nothing.
 */
import type { FastifyInstance } from 'fastify';
import { ThrottlingError, type TenantThrottle } from '../throttling.ts';
import { problemErrorHandler, problemSchema } from './problem.ts';

// A type list, not anyOf with null: the control API's ajv coerces types, and 0 would pass as null under anyOf.
const limit = (description: string) => ({ type: ['integer', 'null'], minimum: 1, description });

const policySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    tokenRequestsPerSecondPerTenant: limit('Token requests per second for the tenant; over it: 429 with Retry-After (null: unlimited)'),
    tokenRequestsPerSecondPerApp: limit('Token requests per second per client_id; over it: 429 with Retry-After (null: unlimited)'),
    smtpSubmissionsPerMinutePerMailbox: limit('MAIL FROM per mailbox per minute; over it: 451 4.7.500 (null: unlimited)'),
  },
} as const;

const trafficSchema = {
  type: 'array',
  items: {
    type: 'object',
    properties: {
      at: { type: 'number', description: 'Start of the virtual second (epoch ms)' },
      tokenRequests: { type: 'integer' },
      smtpSubmissions: { type: 'integer' },
      throttled: { type: 'integer', description: 'Answered 429 or 451 4.7.500 by the throttle' },
    },
  },
} as const;

export function throttlingRoutes(throttle: TenantThrottle) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.setErrorHandler(
      problemErrorHandler({
        statusOf: (err) => (err instanceof ThrottlingError ? 400 : null),
        logMessage: 'twin throttling failure',
        failureDetail: 'the throttling policy could not be changed',
      }),
    );
    const tags = ['throttling'];
    app.get('/throttling', { schema: { tags, summary: "The tenant's throttling policy (every limit null: off)", response: { 200: policySchema } } }, () =>
      throttle.policy(),
    );
    app.put(
      '/throttling',
      { schema: { tags, summary: 'Replace the throttling policy (omitted limits: null)', body: policySchema, response: { 200: policySchema, 400: problemSchema } } },
      (req) => throttle.setPolicy(req.body),
    );
    app.get('/throttling/traffic', { schema: { tags, summary: 'Token requests and SMTP submissions per virtual second, oldest first', response: { 200: trafficSchema } } }, () =>
      throttle.traffic(),
    );
    app.delete('/throttling/traffic', { schema: { tags, summary: 'Forget the counted traffic' } }, (_req, reply) => {
      throttle.resetTraffic();
      return reply.code(204).send();
    });
  };
}
