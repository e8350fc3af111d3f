/** The JSON schema of one fault action (src/cloud/contracts.ts FaultAction), shared by /_twin/faults and /_twin/holds. */
export const faultActionSchema = {
  type: 'object',
  required: ['kind'],
  properties: {
    kind: { type: 'string', enum: ['error', 'http', 'throttle', 'reply', 'delay', 'drop'] },
    error: { type: 'string', maxLength: 100 },
    aadsts: { type: 'integer', minimum: 0 },
    description: { type: 'string', maxLength: 2000 },
    suberror: { type: 'string', maxLength: 100 },
    status: { type: 'integer', minimum: 100, maximum: 599 },
    retryAfterSeconds: { type: 'integer', minimum: 0, maximum: 86400 },
    reply: { type: 'string', maxLength: 1000 },
    ms: { type: 'integer', minimum: 0, maximum: 600000 },
  },
} as const;
