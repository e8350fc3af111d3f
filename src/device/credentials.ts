/**
 * The sending credentials other than OAuth's token cache: the "SMTP Authentication" method's password and the
 * app-only method's client secret. Both are write-only: a settings form carries them next to the settings, they are
 * sealed into NVRAM in the same write as the settings (never stored with them), and nothing answers them back. Which
 * method is complete depends on what is sealed, so the statechart's SAVE_SETTINGS event is built here.
 */
import type { OAuthSettings } from '../../machines/oauthDevice.ts';
import type { DraftVault } from '../nvram/index.ts';
import { SMTP_PASSWORD_SECRET } from '../nvram/migrate.ts';
import type { SmtpSettings } from '../nvram/schema.ts';
import type { AppCredentials } from './ports.ts';
import { credentialInputSchema, DeviceInputError, parseOrThrow, smtpSettingsSchema, type CredentialInput } from './validation.ts';

export { SMTP_PASSWORD_SECRET };
/** The sealed secret holding the app registration's client secret (app-only). */
export const APP_CLIENT_SECRET = 'app-client-secret';

/** Form field → sealed secret name. */
const SECRET_OF_FIELD = { smtpPassword: SMTP_PASSWORD_SECRET, clientSecret: APP_CLIENT_SECRET } as const satisfies Record<keyof CredentialInput, string>;
export const CREDENTIAL_FIELDS = Object.keys(SECRET_OF_FIELD) as (keyof CredentialInput)[];

/**
 * A settings input over the stored settings: the settings proper and the secret fields, both validated, with every
 * field's problem in one refusal (a secret's message names the field, never its value).
 */
export function parseSettingsInput(stored: SmtpSettings, input: Record<string, unknown>): { settings: SmtpSettings; credentials: CredentialInput } {
  const plain: Record<string, unknown> = {};
  const secret: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) ((CREDENTIAL_FIELDS as string[]).includes(k) ? secret : plain)[k] = v;
  const attempt = <T>(parse: () => T): T | DeviceInputError => {
    try {
      return parse();
    } catch (err) {
      if (err instanceof DeviceInputError) return err;
      throw err;
    }
  };
  const settings = attempt(() => parseOrThrow(smtpSettingsSchema, { ...stored, ...plain }, 'SMTP settings'));
  const credentials = attempt(() => parseOrThrow(credentialInputSchema, secret, 'SMTP settings'));
  if (settings instanceof DeviceInputError || credentials instanceof DeviceInputError) {
    const fields = { ...(settings instanceof DeviceInputError ? settings.fields : {}), ...(credentials instanceof DeviceInputError ? credentials.fields : {}) };
    const summary = Object.entries(fields).map(([k, v]) => `${k} ${v}`).join('; ');
    throw new DeviceInputError(`invalid SMTP settings: ${summary}`, fields);
  }
  return { settings, credentials };
}

/** The secrets a form changes: '' or absent keeps the sealed one. */
export function changedSecrets(c: CredentialInput): { name: string; value: string }[] {
  return CREDENTIAL_FIELDS.flatMap((f) => (c[f] ? [{ name: SECRET_OF_FIELD[f], value: c[f] }] : []));
}

/** Seals the changed secrets into the write that saves the settings. */
export function sealCredentials(vault: DraftVault, c: CredentialInput): string[] {
  const changed = changedSecrets(c);
  for (const { name, value } of changed) vault.set(name, value);
  return changed.map((s) => s.name);
}

/** Whether the configured method's own credentials are there (device code has none beyond the settings). */
export function credentialsReady(smtp: SmtpSettings, hasSecret: (name: string) => boolean): boolean {
  if (smtp.authMethod === 'smtpAuth') return hasSecret(SMTP_PASSWORD_SECRET);
  if (smtp.authMethod === 'oauth2AppOnly') return !!smtp.appTenantId && !!smtp.appClientId && hasSecret(APP_CLIENT_SECRET);
  return false;
}

/** What the statechart is told of saved settings. */
export function lifecycleSettings(smtp: SmtpSettings, hasSecret: (name: string) => boolean): OAuthSettings {
  return {
    authMethod: smtp.authMethod,
    authEmailAddress: smtp.authEmailAddress,
    authUsername: smtp.authUsername,
    credentialsReady: credentialsReady(smtp, hasSecret),
  };
}

/** The app's client credentials for a token request (null: not configured, or the secret does not open). */
export function appCredentials(smtp: SmtpSettings, secret: (name: string) => string | undefined): AppCredentials | null {
  const clientSecret = secret(APP_CLIENT_SECRET);
  if (!smtp.appTenantId || !smtp.appClientId || !clientSecret) return null;
  return { tenantId: smtp.appTenantId, clientId: smtp.appClientId, clientSecret };
}
