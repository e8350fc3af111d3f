/**
 * Errors our MSAL network client throws itself, so that what MSAL would otherwise blur reaches the classifier intact.
 * They extend MSAL's own error classes: MSAL rethrows an AuthError from the network module as is (msal-common
 * protocol/Token.mjs sendPostRequest), while anything else becomes a bare `network_error`.
 */
import { AuthError, ServerError } from '@azure/msal-node';

/** Entra's error body, as Microsoft sends it (the fields the classifier reads). */
export interface EntraErrorBody {
  error?: string;
  error_description?: string;
  error_codes?: number[];
  suberror?: string;
}

/**
 * A 429 or 5xx from Entra. Thrown instead of handing the response to MSAL because MSAL (a) remembers the throttle on
 * Date.now() and refuses the next request by itself for up to 60 s of wall time, while the runtime schedules retries
 * on its own clock, and (b) takes a 5xx without an `error` field for a successful token response.
 */
export class EntraHttpError extends ServerError {
  override name = 'EntraHttpError';
  constructor(
    readonly httpStatus: number,
    /** Retry-After in ms, when the server gave one. */
    readonly retryAfterMs: number | null,
    readonly body: EntraErrorBody | null,
    correlationId: string,
  ) {
    const code = body?.error ?? (httpStatus === 429 ? 'throttled' : 'server_error');
    super(code, correlationId, `HTTP ${httpStatus}${body?.error_description ? `: ${body.error_description}` : ''}`, body?.suberror, body?.error_codes?.[0]?.toString(), httpStatus);
    Object.setPrototypeOf(this, EntraHttpError.prototype);
  }
}

/** The request never got an HTTP answer: connection refused/reset/timed out, or TLS verification failed. */
export class EntraTransportError extends AuthError {
  override name = 'EntraTransportError';
  constructor(
    readonly kind: 'network' | 'tls',
    /** The socket's or TLS stack's code (ECONNREFUSED, UND_ERR_SOCKET, UNABLE_TO_VERIFY_LEAF_SIGNATURE...). */
    readonly transportCode: string,
    readonly url: string,
    detail: string,
    correlationId = '',
  ) {
    super(kind === 'tls' ? 'tls_error' : 'network_error', correlationId, `${transportCode}: ${detail}`);
    Object.setPrototypeOf(this, EntraTransportError.prototype);
  }
}

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|HOSTNAME_MISMATCH|ERR_OSSL)/;

/** Is this socket-level error a TLS (certificate, handshake) failure rather than a plain network one? */
export function isTlsErrorCode(code: string | undefined, message = ''): boolean {
  if (code && TLS_CODES.test(code)) return true;
  if (code === 'EPROTO' && /ssl|tls|handshake/i.test(message)) return true;
  return /certificate|self[- ]signed|ssl routines|tls handshake/i.test(message);
}
