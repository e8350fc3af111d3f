/**
 * Firmware update path for the NVRAM content. Firmware 1 (SMTP basic AUTH only) kept the SMTP password in plain
 * text; firmware 2 keeps every SMTP setting, renames smtpUsername to authUsername, adds the OAuth-era settings with
 * their defaults, and moves the password into the sealed secret `smtp-password`.
 */
import { CURRENT_FIRMWARE, defaultCloudSettings, defaultSmtpSettings, type NvramData, type NvramDataV1 } from './schema.ts';
import type { SecretVault } from './vault.ts';

export const SMTP_PASSWORD_SECRET = 'smtp-password';

export function migrateFromV1(old: NvramDataV1, vault: SecretVault, now: number): NvramData {
  const smtp = {
    ...defaultSmtpSettings(),
    smtpServerName: old.smtp.smtpServerName,
    smtpPort: old.smtp.smtpPort,
    useSecureConnection: old.smtp.useSecureConnection,
    authMethod: old.smtp.authMethod,
    authUsername: old.smtp.smtpUsername,
    adminEmailAddress: old.smtp.adminEmailAddress,
  };
  const secrets: NvramData['secrets'] = {};
  let passwordNote: string;
  if (old.smtp.smtpPassword === '') {
    passwordNote = 'no SMTP password was set';
  } else if (vault.available) {
    secrets[SMTP_PASSWORD_SECRET] = vault.seal(SMTP_PASSWORD_SECRET, old.smtp.smtpPassword);
    passwordNote = `SMTP password sealed as "${SMTP_PASSWORD_SECRET}"`;
  } else {
    // Without a device key the password cannot be sealed; keeping it in plain text is not an option.
    passwordNote = 'SMTP password dropped (device key unavailable, cannot seal it): re-enter it on the panel';
  }
  return {
    firmwareVersion: CURRENT_FIRMWARE,
    device: { ...old.device },
    settings: { smtp, cloud: defaultCloudSettings() },
    secrets,
    snapshot: null,
    spool: [],
    jobLog: [],
    eventLog: [
      ...old.eventLog,
      {
        at: now,
        kind: 'nvram.migrated',
        message: `NVRAM migrated from firmware 1 to ${CURRENT_FIRMWARE}: SMTP settings kept, new settings at defaults, ${passwordNote}`,
        data: { from: 1, to: CURRENT_FIRMWARE },
      },
    ],
    panel: {},
  };
}
