/**
 * /_twin/holds: arm, list, release and cancel holds at the network boundary (src/cloud/holds.ts). Registered inside
 * the /_twin plugin (its access check and OpenAPI document); refusals are RFC 7807 problem documents and change
 * nothing.
 */
import type { FastifyInstance } from 'fastify';
import {
  DEFAULT_HOLD_TIMEOUT_MS,
  HOLD_GRANT_TYPES,
  HOLD_STATES,
  HOLD_TARGETS,
  HOLD_WAITS,
  HoldError,
  MAX_HOLD_TIMEOUT_MS,
  MAX_HOLD_WAIT_MS,
  type HoldWait,
  type HoldOutcome,
  type HoldRegistry,
  type HoldSpec,
} from '../holds.ts';
import { faultActionSchema } from './fault-action-schema.ts';
import { problemErrorHandler, problemSchema } from './problem.ts';

const outcomeSchema = {
  description: '"proceed" (answer normally, fault plan included) or one fault action, as in POST /_twin/faults',
  anyOf: [{ type: 'string', enum: ['proceed'] }, { ...faultActionSchema, additionalProperties: false }],
} as const;

const matchSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'Every given field must match',
  properties: {
    client: { type: 'string', minLength: 1, maxLength: 64, description: "Peer IP address (the journal's client)" },
    clientId: { type: 'string', minLength: 1, maxLength: 128, description: 'client_id of a device-code or token request' },
    upn: { type: 'string', minLength: 1, maxLength: 256, description: 'Mailbox of smtp-auth (AUTH user name) or smtp-data (signed-in mailbox)' },
  },
} as const;

const requestSchema = {
  type: 'object',
  properties: {
    at: { type: 'string', format: 'date-time' },
    client: { type: 'string' },
    grantType: { type: 'string' },
    clientId: { type: 'string' },
    upn: { type: 'string' },
    session: { type: 'string' },
  },
} as const;

const holdSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    target: { type: 'string', enum: HOLD_TARGETS },
    grantType: { type: 'string', enum: HOLD_GRANT_TYPES },
    match: matchSchema,
    timeoutMs: { type: 'integer' },
    onTimeout: outcomeSchema,
    state: { type: 'string', enum: HOLD_STATES },
    since: { type: 'string', format: 'date-time', description: "Twin clock when the hold entered its state" },
    createdAt: { type: 'string', format: 'date-time' },
    caught: { ...requestSchema, description: 'The request the hold caught' },
    outcome: { ...outcomeSchema, description: 'What the caught request was let go with' },
    heldMs: { type: 'number', description: 'Wall-time milliseconds the request was held' },
  },
} as const;

const idParam = { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', format: 'uuid' } } } as const;

const TITLES: Record<number, string> = { 400: 'Bad request', 404: 'No such hold', 409: 'Hold not in that state' };

export function holdsRoutes(holds: HoldRegistry) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.setErrorHandler(
      problemErrorHandler({
        statusOf: (err) => (err instanceof HoldError ? err.status : null),
        titles: TITLES,
        logMessage: 'twin holds failure',
        failureDetail: 'the hold could not be changed',
      }),
    );

    const tags = ['holds'];
    app.post<{ Body: HoldSpec }>(
      '/holds',
      {
        schema: {
          tags,
          summary: 'Arm a hold: the next matching request waits until released (or the timeout, wall time)',
          description:
            'Targets: device-code (POST/GET …/oauth2/v2.0/devicecode), token (POST …/oauth2/v2.0/token, optionally one grantType), ' +
            'smtp-connect (before the greeting), smtp-auth (before the AUTH reply), smtp-data (after the message, before its reply). ' +
            'A hold catches one request only. Poll GET /_twin/holds/{id} until state is holding.',
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['target'],
            properties: {
              target: { type: 'string', enum: HOLD_TARGETS },
              grantType: { type: 'string', enum: HOLD_GRANT_TYPES, description: 'Only for target token' },
              match: matchSchema,
              timeoutMs: {
                type: 'integer',
                minimum: 1,
                maximum: MAX_HOLD_TIMEOUT_MS,
                default: DEFAULT_HOLD_TIMEOUT_MS,
                description: 'Wall-time bound on holding a caught request (the virtual clock may stand still)',
              },
              onTimeout: { ...outcomeSchema, description: 'What a request gets when its hold times out (default proceed)' },
            },
          },
          response: { 201: holdSchema, 400: problemSchema, 409: problemSchema },
        },
      },
      (req, reply) => reply.code(201).send(holds.add(req.body)),
    );

    app.get(
      '/holds',
      {
        schema: {
          tags,
          summary: 'Holds: armed and holding ones, then the last 100 finished ones (released, timed-out, cancelled, abandoned)',
          response: { 200: { type: 'array', items: holdSchema } },
        },
      },
      () => holds.list(),
    );

    app.delete(
      '/holds',
      {
        schema: {
          tags,
          summary: 'Cancel every armed or holding hold (held requests proceed)',
          response: { 200: { type: 'object', properties: { cancelled: { type: 'integer' } } } },
        },
      },
      () => ({ cancelled: holds.cancelAll() }),
    );

    app.get<{ Params: { id: string }; Querystring: { until?: HoldWait; waitMs: number } }>(
      '/holds/:id',
      {
        schema: {
          tags,
          summary: 'One hold; with until=holding|finished, answers once the hold has caught a request (or has ended), or after waitMs',
          params: idParam,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              until: { type: 'string', enum: HOLD_WAITS, description: 'holding: caught (or already ended); finished: released, timed-out, cancelled or abandoned' },
              waitMs: { type: 'integer', minimum: 0, maximum: MAX_HOLD_WAIT_MS, default: 10_000, description: 'Longest wait, wall time (with until)' },
            },
          },
          response: { 200: holdSchema, 400: problemSchema, 404: problemSchema },
        },
      },
      (req) => (req.query.until ? holds.until(req.params.id, req.query.until, req.query.waitMs) : holds.get(req.params.id)),
    );

    app.post<{ Params: { id: string }; Body: { outcome?: HoldOutcome } | undefined }>(
      '/holds/:id/release',
      {
        schema: {
          tags,
          summary: 'Let the held request go: proceed (default) or answer it with a fault action',
          params: idParam,
          body: { type: 'object', additionalProperties: false, properties: { outcome: outcomeSchema } },
          response: { 200: holdSchema, 400: problemSchema, 404: problemSchema, 409: problemSchema },
        },
        // No body at all is a release to proceed (the schema then checks an empty object).
        preValidation: async (req) => {
          if (req.body === undefined || req.body === null) req.body = {};
        },
      },
      (req) => holds.release(req.params.id, req.body?.outcome ?? 'proceed'),
    );

    app.delete<{ Params: { id: string } }>(
      '/holds/:id',
      {
        schema: {
          tags,
          summary: 'Cancel a hold: an armed one catches nothing, a holding one lets its request proceed',
          params: idParam,
          response: { 200: holdSchema, 400: problemSchema, 404: problemSchema, 409: problemSchema },
        },
      },
      (req) => holds.cancel(req.params.id),
    );
  };
}
