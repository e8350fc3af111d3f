/**
 * The driver protocol's OpenAPI 3.1 document and JSON Schemas, generated from the zod schemas in protocol.ts (zod 4's
 * own `z.toJSONSchema`), so the published contract is exactly what the client and our server check.
 * `mfp-sim driver openapi` prints it; docs/driver-protocol.md describes it for people.
 */
import { z } from 'zod';
import { DRIVER_BASE, DRIVER_PROTOCOL, DRIVER_PROTOCOL_VERSION, DRIVER_ROUTES, problemSchema, type DriverCall } from './protocol.ts';

const schema = (s: z.ZodType, io: 'input' | 'output') => z.toJSONSchema(s, { target: 'draft-2020-12', io, unrepresentable: 'any' });

/** One JSON Schema per route answer and request, by call name (e.g. `status.answer`, `operator.request`). */
export function driverJsonSchemas(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const call of Object.keys(DRIVER_ROUTES) as DriverCall[]) {
    const r = DRIVER_ROUTES[call] as { request?: z.ZodType; answer: z.ZodType };
    out[`${call}.answer`] = schema(r.answer, 'output');
    if (r.request) out[`${call}.request`] = schema(r.request, 'input');
  }
  out.problem = schema(problemSchema, 'output');
  return out;
}

export function driverOpenApi(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const call of Object.keys(DRIVER_ROUTES) as DriverCall[]) {
    const r = DRIVER_ROUTES[call] as { method: string; path: string; request?: z.ZodType; answer: z.ZodType; capability?: string; summary: string };
    const op: Record<string, unknown> = {
      operationId: call,
      summary: r.summary,
      ...(r.capability ? { description: `Optional: only when hello declares capabilities.${r.capability} = true (otherwise 501).`, 'x-capability': r.capability } : {}),
      responses: {
        '200': { description: 'done', content: { 'application/json': { schema: schema(r.answer, 'output') } } },
        default: { description: 'refused (RFC 7807)', content: { 'application/problem+json': { schema: schema(problemSchema, 'output') } } },
      },
      ...(r.request ? { requestBody: { required: true, content: { 'application/json': { schema: schema(r.request, 'input') } } } } : {}),
      ...(call === 'events' ? { parameters: [{ name: 'after', in: 'query', required: false, schema: { type: 'integer', minimum: 0 } }] } : {}),
    };
    (paths[`${DRIVER_BASE}${r.path}`] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'mfp-sim driver protocol',
      version: String(DRIVER_PROTOCOL_VERSION),
      description: `${DRIVER_PROTOCOL} version ${DRIVER_PROTOCOL_VERSION}: how the model-based tests and scenarios drive any printer. See docs/driver-protocol.md.`,
    },
    paths,
  };
}
