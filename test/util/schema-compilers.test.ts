/**
 * Shared schema compilers (src/util/schema-compilers.ts): Fastify apps built with one set reuse the validator and the
 * serializer compiled for a schema of the same content, and still validate and serialize as each app's own would;
 * schemas that differ, or name external schemas that differ, are never given another app's function.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createSchemaCompilers, type SchemaCompilers } from '../../src/util/schema-compilers.ts';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

/** An app with one route whose body is the external schema `thing` (of `thing`'s content) and a typed answer. */
async function app(thing: object, compilers?: SchemaCompilers) {
  const a = Fastify({ logger: false, ...(compilers ? { schemaController: { compilersFactory: compilers } } : {}) });
  apps.push(a);
  a.addSchema({ $id: 'thing', ...thing });
  let validator: unknown;
  a.post(
    '/echo',
    { schema: { body: { $ref: 'thing#' }, response: { 200: { type: 'object', properties: { a: { type: 'string' } } } } } },
    async (req) => {
      validator = req.getValidationFunction('body');
      return { ...(req.body as object), secret: 'not in the schema' };
    },
  );
  await a.ready();
  const post = async (body: unknown) => {
    const res = await a.inject({ method: 'POST', url: '/echo', payload: body as object });
    return { status: res.statusCode, body: res.json() as unknown };
  };
  return { post, validator: () => validator };
}

const needsA = { type: 'object', required: ['a'], properties: { a: { type: 'string' } }, additionalProperties: false };
const needsB = { type: 'object', required: ['b'], properties: { b: { type: 'string' } }, additionalProperties: false };

describe('shared schema compilers', () => {
  it('give two apps the same compiled validator, which validates and serializes as their own would', async () => {
    const compilers = createSchemaCompilers();
    const one = await app(needsA, compilers);
    const two = await app(needsA, compilers);
    const own = await app(needsA);
    for (const x of [one, two, own]) {
      expect(await x.post({ a: 'x' })).toEqual({ status: 200, body: { a: 'x' } }); // the serializer drops `secret`
      expect((await x.post({ b: 'x' })).status).toBe(400);
    }
    expect(one.validator()).toBeTypeOf('function');
    expect(two.validator()).toBe(one.validator());
    expect(own.validator()).not.toBe(one.validator());
  });

  it('keep apps whose external schemas differ apart', async () => {
    const compilers = createSchemaCompilers();
    const a = await app(needsA, compilers);
    const b = await app(needsB, compilers);
    expect((await a.post({ a: 'x' })).status).toBe(200);
    expect((await a.post({ b: 'x' })).status).toBe(400);
    expect((await b.post({ b: 'x' })).status).toBe(200);
    expect((await b.post({ a: 'x' })).status).toBe(400);
    expect(b.validator()).not.toBe(a.validator());
  });
});
