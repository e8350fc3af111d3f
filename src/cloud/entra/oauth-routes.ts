/**
 * The login.microsoftonline.com surface: discovery, JWKS, /devicecode and /token under /{tenant}. Bodies are read by
 * a parser of our own so that nothing a client sends (wrong content type, broken form, huge fields) reaches Fastify's
 * default error replies: every refusal is a Microsoft-shaped JSON error.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FaultPlan } from '../contracts.ts';
import { EntraError, Errors, entraErrorBody } from './errors.ts';
import { applyHttpFault } from './http-faults.ts';
import { peerAddress } from '../journal/http-journal.ts';
import type { HoldGate, HoldTarget } from '../holds.ts';
import type { TenantThrottle } from '../throttling.ts';
import { DEVICE_CODE_GRANTS, type EntraService, type Params } from './service.ts';
import type { SigningKey } from './signing-key.ts';

export interface OAuthRoutesOptions {
  service: EntraService;
  faults: FaultPlan;
  key: SigningKey;
  origin: () => string;
  /** Host names (lower case) the twin answers as; a request naming one of them is answered with that name. */
  servedNames?: readonly string[];
  /** Holds at the boundary (holds.ts): a matching request waits here before the twin looks at it. */
  holds?: HoldGate;
  /** The tenant's throttling (throttling.ts); absent: none. */
  throttle?: TenantThrottle;
}

const MAX_BODY_BYTES = 64 * 1024;
const MAX_FIELD_CHARS = 16 * 1024;
const MALFORMED = Symbol('malformed');
type ParsedBody = Params | typeof MALFORMED;

export async function oauthRoutes(app: FastifyInstance, opts: OAuthRoutesOptions): Promise<void> {
  const { service, faults, key } = opts;
  const origin = () => opts.origin();
  const served = new Set((opts.servedNames ?? []).map((n) => n.toLowerCase()));
  // The origin the client used (Host), when it is one of the served names: a device that reached the twin as
  // login.microsoftonline.com is told login.microsoftonline.com, never the listening address.
  const originOf = (req: FastifyRequest): string => {
    const host = String(req.headers.host ?? '');
    const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '').toLowerCase();
    if (!served.has(name)) return origin();
    // The client's own Host (its port, or none for 443) names the origin it will come back to.
    return `https://${host.toLowerCase().replace(/:443$/, '')}`;
  };
  const directory = service.directory;
  const now = () => service.clock.now();

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: MAX_BODY_BYTES }, (req, body, done) => {
    const type = String(req.headers['content-type'] ?? '').toLowerCase();
    // Entra reads only form bodies; anything else is as if no parameters were sent.
    done(null, type.startsWith('application/x-www-form-urlencoded') ? parseForm(String(body)) : {});
  });

  app.setErrorHandler((err, request, reply) => {
    const entra =
      err instanceof EntraError
        ? err
        : (err as { statusCode?: number }).statusCode && (err as { statusCode: number }).statusCode < 500
          ? Errors.malformed()
          : new EntraError({ error: 'server_error', aadsts: 90033, description: 'A transient error has occurred. Please try again.', status: 500 });
    if (!(err instanceof EntraError) && entra.status >= 500) request.log.error({ err }, 'entra twin failure');
    return reply
      .code(entra.status)
      .header('cache-control', 'no-store, no-cache')
      .send(entraErrorBody(entra, now(), originOf(request), correlationOf(request)));
  });

  const checkTenant = (tenant: string) => {
    const t = tenant.toLowerCase();
    if (t !== 'common' && t !== 'organizations' && !directory.matchesTenant(t)) throw Errors.unknownTenant(tenant);
    return t;
  };

  app.get<{ Params: { tenant: string } }>('/:tenant/v2.0/.well-known/openid-configuration', async (req) => {
    const t = checkTenant(req.params.tenant);
    const specific = t !== 'common' && t !== 'organizations';
    // Entra answers a domain with the GUID in every URL, and multi-tenant paths with a {tenantid} template.
    const seg = specific ? directory.tenantId : t;
    const here = originOf(req);
    const base = `${here}/${seg}`;
    return {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: specific ? service.issuer.v2IssuerAt(here) : `${here}/{tenantid}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${here}/oidc/userinfo`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'acr', 'nonce', 'preferred_username', 'name', 'tid', 'ver', 'at_hash', 'c_hash', 'email'],
      kerberos_endpoint: `${base}/kerberos`,
      tenant_region_scope: 'EU',
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
      rbac_url: 'https://pas.windows.net',
    };
  });

  const jwks = async (req: FastifyRequest<{ Params: { tenant: string } }>) => {
    checkTenant(req.params.tenant);
    return { keys: [key.publicJwk] };
  };
  app.get('/:tenant/discovery/v2.0/keys', jwks);
  app.get('/:tenant/discovery/keys', jwks);

  // The hold comes first: at the boundary, before the twin has looked at the tenant or the parameters.
  const hold = async (target: HoldTarget, req: FastifyRequest, params: ParsedBody) => {
    if (!opts.holds) return null;
    const gone = new AbortController();
    const left = () => gone.abort();
    req.socket.once('close', left);
    try {
      return await opts.holds.wait(
        target,
        {
          client: peerAddress(req.socket.remoteAddress),
          ...(params !== MALFORMED && params.grant_type ? { grantType: params.grant_type.slice(0, 200) } : {}),
          ...(params !== MALFORMED && params.client_id ? { clientId: params.client_id.slice(0, 128) } : {}),
        },
        gone.signal,
      );
    } finally {
      req.socket.off('close', left);
    }
  };

  const deviceCode = async (req: FastifyRequest<{ Params: { tenant: string } }>, reply: FastifyReply, params: ParsedBody) => {
    const held = await hold('device-code', req, params);
    checkTenant(req.params.tenant);
    if ((await applyHttpFault(faults, 'devicecode', req, reply, held)) === 'handled') return reply;
    if (params === MALFORMED) throw Errors.malformed();
    return noStore(reply).send(service.requestDeviceCode(params, `${originOf(req)}/devicelogin`));
  };
  app.post<{ Params: { tenant: string } }>('/:tenant/oauth2/v2.0/devicecode', (req, reply) =>
    deviceCode(req, reply, (req.body as ParsedBody | undefined) ?? {}),
  );
  // Some third-party clients ask for a device code with GET and query parameters.
  app.get<{ Params: { tenant: string } }>('/:tenant/oauth2/v2.0/devicecode', (req, reply) =>
    deviceCode(req, reply, queryParams(req.query)),
  );

  app.post<{ Params: { tenant: string } }>('/:tenant/oauth2/v2.0/token', async (req, reply) => {
    const params = (req.body as ParsedBody | undefined) ?? {};
    const held = await hold('token', req, params);
    checkTenant(req.params.tenant);
    // Throttling answers as a throttle fault would (429 + Retry-After); a released hold's choice comes first.
    const throttled = held ? null : opts.throttle?.admitTokenRequest(params === MALFORMED ? '' : String(params.client_id ?? ''));
    // A device-code poll over the limit is told to keep polling (authorization_pending, the code left unredeemed), not
    // 429: RFC 8628 clients end the sign-in on any other polling error (msal-node does, slow_down included), and a
    // poll is already paced by the interval. Simulation choice: Entra documents no throttling answer for polls.
    if (throttled && params !== MALFORMED && DEVICE_CODE_GRANTS.includes(String(params.grant_type ?? ''))) throw Errors.authorizationPending();
    const instead = held ?? (throttled ? { kind: 'throttle' as const, retryAfterSeconds: throttled.retryAfterSeconds } : null);
    if ((await applyHttpFault(faults, 'token', req, reply, instead)) === 'handled') return reply;
    if (params === MALFORMED) throw Errors.malformed();
    return noStore(reply).send(await service.token(params, originOf(req)));
  });
  app.get<{ Params: { tenant: string } }>('/:tenant/oauth2/v2.0/token', async (req) => {
    checkTenant(req.params.tenant);
    throw Errors.methodNotAllowed('GET');
  });
}

function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store, no-cache').header('pragma', 'no-cache');
}

/** Form body → params; repeated or oversized parameters make the request malformed (RFC 6749 §3.1). */
function parseForm(body: string): ParsedBody {
  const out: Params = {};
  let sp: URLSearchParams;
  try {
    sp = new URLSearchParams(body);
  } catch {
    return MALFORMED;
  }
  for (const [k, v] of sp) {
    if (k.length > 256 || v.length > MAX_FIELD_CHARS || Object.hasOwn(out, k)) return MALFORMED;
    out[k] = v;
  }
  return out;
}

function queryParams(query: unknown): ParsedBody {
  const out: Params = {};
  for (const [k, v] of Object.entries((query ?? {}) as Record<string, unknown>)) {
    if (typeof v !== 'string' || v.length > MAX_FIELD_CHARS) return MALFORMED;
    out[k] = v;
  }
  return out;
}

function correlationOf(req: FastifyRequest): string | undefined {
  const fromQuery = (req.query as Record<string, unknown> | undefined)?.['client-request-id'];
  const fromHeader = req.headers['client-request-id'];
  const id = typeof fromQuery === 'string' ? fromQuery : typeof fromHeader === 'string' ? fromHeader : undefined;
  return id && /^[0-9a-f-]{36}$/i.test(id) ? id : undefined;
}
