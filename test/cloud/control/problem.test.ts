/**
 * The control API's problem documents (src/cloud/control/problem.ts): a group's typed refusal with its status and
 * title, Fastify's own 4xx as they are, an unexpected failure as a 500 whose detail does not carry its message.
 */
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { problemErrorHandler, problemSchema } from '../../../src/cloud/control/problem.ts';

class Refusal extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

async function app() {
  const logged: unknown[] = [];
  const a = Fastify({ logger: { level: 'error', stream: { write: (line: string) => void logged.push(JSON.parse(line)) } } });
  a.setErrorHandler(
    problemErrorHandler({
      statusOf: (err) => (err instanceof Refusal ? err.status : null),
      titles: { 404: 'No such thing' },
      logMessage: 'widget failure',
      failureDetail: 'the widget could not be read',
    }),
  );
  a.get('/refused/:status', (req) => {
    throw new Refusal(Number((req.params as { status: string }).status), 'refused on purpose');
  });
  a.post('/strict', { schema: { body: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } }, response: { 400: problemSchema } } }, () => ({ ok: true }));
  a.get('/broken', () => {
    throw new Error('secret internals');
  });
  return { a, logged };
}

describe('control API problem documents', () => {
  it("answers a group's own refusal with its status, its title where the group has one, and its message", async () => {
    const { a } = await app();
    const notFound = await a.inject({ method: 'GET', url: '/refused/404' });
    expect(notFound.statusCode).toBe(404);
    expect(notFound.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(notFound.json()).toEqual({ type: 'about:blank', title: 'No such thing', status: 404, detail: 'refused on purpose' });
    const conflict = await a.inject({ method: 'GET', url: '/refused/409' });
    expect(conflict.json()).toMatchObject({ title: 'Bad request', status: 409 });
  });

  it("passes Fastify's own validation refusal through as a 400 problem", async () => {
    const { a } = await app();
    const res = await a.inject({ method: 'POST', url: '/strict', payload: { n: 'x' } });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ title: 'Bad request', status: 400, detail: expect.stringContaining('body/n') });
  });

  it('answers an unexpected failure with a 500 that names what failed and logs the error itself', async () => {
    const { a, logged } = await app();
    const res = await a.inject({ method: 'GET', url: '/broken' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ type: 'about:blank', title: 'Twin failure', status: 500, detail: 'the widget could not be read' });
    expect(res.body).not.toContain('secret internals');
    expect(logged).toContainEqual(expect.objectContaining({ msg: 'widget failure', err: expect.objectContaining({ message: 'secret internals' }) }));
  });
});
