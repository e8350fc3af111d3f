/**
 * pino with redaction: whatever a caller logs, fields that can hold a secret are censored before they are written.
 * Tokens also never get here by design (the runtime logs states and reasons, not payloads); this is the safety net.
 */
import pino, { type Logger, type DestinationStream } from 'pino';

export const REDACTED_PATHS = [
  'password',
  '*.password',
  'accessToken',
  '*.accessToken',
  'refreshToken',
  '*.refreshToken',
  'access_token',
  '*.access_token',
  'refresh_token',
  '*.refresh_token',
  'id_token',
  '*.id_token',
  'device_code',
  '*.device_code',
  'deviceCode',
  '*.deviceCode',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'cookie',
  '*.cookie',
  'secret',
  '*.secret',
  'cache',
  '*.cache',
];

export function createLogger(opts: { level?: string; name?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      name: opts.name ?? 'mfp-sim',
      level: opts.level ?? process.env.MFP_LOG_LEVEL ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    opts.destination,
  );
}

/** A logger that writes nothing (tests and benchmarks that do not read logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

export type { Logger };
