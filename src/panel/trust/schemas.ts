/** OpenAPI schemas of the trust store routes (src/panel/trust/routes.ts). */
const isoTime = { type: 'string', format: 'date-time' } as const;

export const trustedCertificateSchema = {
  $id: 'TrustedCertificate',
  type: 'object',
  description: "A root (CA) certificate of the printer's TLS trust store",
  properties: {
    fingerprint: { type: 'string', description: 'SHA-256 fingerprint, AA:BB:… (the key to delete it by)' },
    subject: { type: 'string' },
    issuer: { type: 'string' },
    validFrom: isoTime,
    validTo: isoTime,
    selfSigned: { type: 'boolean' },
    origin: { type: 'string', enum: ['factory', 'imported'], description: 'factory: shipped with the firmware; imported: by the admin' },
    addedAt: isoTime,
    bytes: { type: 'integer', description: 'NVRAM bytes it takes (PEM)' },
  },
  required: ['fingerprint', 'subject', 'issuer', 'validFrom', 'validTo', 'selfSigned', 'origin', 'addedAt', 'bytes'],
} as const;

export const trustStoreSchema = {
  $id: 'TrustStore',
  type: 'object',
  properties: {
    certificates: { type: 'array', items: { $ref: 'TrustedCertificate#' } },
  },
  required: ['certificates'],
} as const;

export const importCertificateSchema = {
  type: 'object',
  properties: { pem: { type: 'string', maxLength: 16_384, description: 'One CA certificate, PEM (-----BEGIN CERTIFICATE----- …)' } },
  required: ['pem'],
  additionalProperties: false,
} as const;

export const fingerprintParams = {
  type: 'object',
  properties: { fingerprint: { type: 'string', maxLength: 128, description: 'SHA-256 fingerprint as listed (AA:BB:…)' } },
  required: ['fingerprint'],
} as const;

/** A refused change: the reason word and the words for people (a body that fails the schema has no `reason`). */
export const trustRefusalSchema = {
  type: 'object',
  properties: {
    error: { type: 'string' },
    reason: { type: 'string', enum: ['malformed', 'not-a-ca', 'duplicate', 'full', 'not-found'] },
    fields: { type: 'object', additionalProperties: { type: 'string' } },
  },
  required: ['error'],
} as const;
