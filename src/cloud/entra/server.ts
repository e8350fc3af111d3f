/**
 * The Entra origin: one Fastify HTTPS server carrying the OAuth endpoints, the /devicelogin pages and the /_twin
 * control API (with its OpenAPI document).
 */
import { randomBytes } from 'node:crypto';
import Fastify, { LogController, type FastifyReply } from 'fastify';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import type { Logger } from 'pino';
import type { FaultPlan } from '../contracts.ts';
import { controlRoutes } from '../control/routes.ts';
import { sendProblem } from '../control/problem.ts';
import type { TwinControl } from '../control/control.ts';
import { signInRoutes } from '../signin/routes.ts';
import { Errors, entraErrorBody, EntraError } from './errors.ts';
import { oauthRoutes } from './oauth-routes.ts';
import type { PhoneOutbox } from './phone.ts';
import type { EntraService } from './service.ts';
import type { SigningKey } from './signing-key.ts';
import { journalHttp } from '../journal/http-journal.ts';
import type { WireJournal } from '../journal/wire-journal.ts';
import { dialableHost, type ControlToken, type HostCheck } from '../exposure.ts';
import type { HoldGate } from '../holds.ts';
import type { SchemaCompilers } from '../../util/schema-compilers.ts';

export interface EntraServerOptions {
  host: string;
  port: number;
  tls: { key: string; cert: string };
  service: EntraService;
  phone: PhoneOutbox;
  control: TwinControl;
  faults: FaultPlan;
  key: SigningKey;
  /** Host names the twin answers as (the server certificate's DNS names). */
  servedNames?: readonly string[];
  /** Wire journal of every OAuth / sign-in request (absent: nothing is journalled). */
  journal?: WireJournal;
  /** Host headers answered; anything else gets 421 Misdirected Request (absent: every Host is answered). */
  hostCheck?: HostCheck;
  /** Bound beyond loopback: /_twin demands this bearer token (absent: loopback peers only, no token). */
  controlToken?: ControlToken | null;
  /** Holds at the boundary for /devicecode and /token (absent: nothing is held). */
  holds?: HoldGate;
  throttle?: import('../throttling.ts').TenantThrottle;
  logger?: Logger;
  /** Route schemas compiled once for every app built with these (src/util/schema-compilers.ts); default: its own. */
  schemaCompilers?: SchemaCompilers;
}

export interface EntraServer {
  /** https://host:port */
  url: string;
  port: number;
  /** Serves another certificate (chain PEM) from the next handshake on (a root migration, src/cloud/pki.ts). */
  setCertificate(tls: { key: string; cert: string }): void;
  close(): Promise<void>;
}

export async function startEntraServer(o: EntraServerOptions): Promise<EntraServer> {
  let origin = '';
  const app = Fastify({
    https: { key: o.tls.key, cert: o.tls.cert },
    ...(o.logger ? { loggerInstance: o.logger } : { logger: false }),
    // Request lines can carry user codes; the twin logs its own events instead.
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
    // Fastify keeps an idle connection 72 s of wall time; a twin serving a fleet would hold one socket per printer
    // long after its last request (virtual hours pass in seconds). Node's own default instead.
    keepAliveTimeout: 5_000,
    bodyLimit: 1024 * 1024,
    ...(o.schemaCompilers ? { schemaController: { compilersFactory: o.schemaCompilers } } : {}),
    // Unknown control fields are refused, not silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
    // Requests refused before routing (an undecodable URL such as /%C0%AF) get Microsoft's error shape too.
    frameworkErrors: (_error, _req, reply) => {
      void (reply as FastifyReply).code(400).send(msError(Errors.malformed()));
    },
  });

  if (o.journal) journalHttp(app as unknown as import('fastify').FastifyInstance, o.journal);
  const isControl = (url: string) => url === '/_twin' || url.startsWith('/_twin/') || url.startsWith('/_twin?');
  if (o.hostCheck) {
    const check = o.hostCheck;
    app.addHook('onRequest', async (req, reply) => {
      if (check.allows(req.headers.host)) return;
      // The Host is not echoed back: a refusal reflects nothing the client made up.
      const detail = 'the Host header names no name this server answers for (Microsoft names, --name extras, its own addresses, localhost)';
      if (isControl(req.url)) return sendProblem(reply, 421, 'Misdirected Request', detail);
      return reply.code(421).send(msError(new EntraError({ error: 'invalid_request', description: `Misdirected request: ${detail}.`, status: 421 })));
    });
  }
  if (o.controlToken) {
    const token = o.controlToken;
    app.addHook('onRequest', async (req, reply) => {
      if (!isControl(req.url) || token.accepts(req.headers.authorization)) return;
      const given = req.headers.authorization !== undefined;
      // RFC 6750 §3: no credentials → just the scheme; wrong ones → invalid_token.
      void reply.header('www-authenticate', given ? 'Bearer realm="_twin", error="invalid_token"' : 'Bearer realm="_twin"');
      return sendProblem(reply, 401, 'Unauthorized', given ? 'the bearer token is not the one this twin printed at start' : 'the control API of a twin bound beyond loopback needs Authorization: Bearer <token> (printed at start)');
    });
  }

  await app.register(cookie, { secret: randomBytes(32).toString('hex') });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'mfp-oauth-sim Microsoft twin control API',
        version: '1.0.0',
        description: o.controlToken
          ? 'Control of the Entra ID / Exchange Online twin. Bound beyond loopback: every route needs the bearer token printed at start (401 otherwise).'
          : 'Loopback-only control of the Entra ID / Exchange Online twin (no token: it answers loopback peers only).',
      },
      // Exposed twins demand the control token on every route (docs/cloud-twin.md, "Exposure beyond loopback").
      ...(o.controlToken ? { components: { securitySchemes: { controlToken: { type: 'http' as const, scheme: 'bearer' } } }, security: [{ controlToken: [] }] } : {}),
    },
    // Only the control API is documented; the OAuth surface is Microsoft's.
    transform: ({ schema, url }) => ({
      schema: (url.startsWith('/_twin') ? schema : { ...(schema ?? {}), hide: true }) as never,
      url,
    }),
  });

  await app.register(oauthRoutes, { service: o.service, faults: o.faults, key: o.key, origin: () => origin, servedNames: o.servedNames, holds: o.holds, throttle: o.throttle });
  await app.register(signInRoutes({ service: o.service, phone: o.phone }));
  await app.register(controlRoutes(o.control, { remotePeers: !!o.controlToken }), { prefix: '/_twin' });

  const msError = (err: EntraError) => entraErrorBody(err, o.service.clock.now(), origin);
  // Unknown paths get Microsoft's error shape too (with 404, as the path does not exist).
  app.setNotFoundHandler((_req, reply) => reply.code(404).send(msError(Errors.malformed())));
  app.setErrorHandler((err, req, reply) => {
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) {
      req.log.error({ err }, 'entra twin failure');
      return reply.code(500).send(msError(new EntraError({ error: 'server_error', aadsts: 90033, description: 'A transient error has occurred. Please try again.', status: 500 })));
    }
    return reply.code(400).send(msError(Errors.malformed()));
  });

  await app.listen({ host: o.host, port: o.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  // A wildcard bind is dialled on loopback by the twin's own in-process users; devices use the served names.
  const dial = dialableHost(o.host);
  origin = `https://${dial.includes(':') ? `[${dial}]` : dial}:${port}`;
  const server = app.server as unknown as import('node:tls').Server;
  return { url: origin, port, setCertificate: (tls) => server.setSecureContext({ key: tls.key, cert: tls.cert }), close: () => app.close() };
}
