/**
 * Typed NVRAM errors. Each carries a stable `code` (panva style) so the runtime and the CLI can branch on it
 * without parsing messages.
 */
export type NvramErrorCode =
  | 'nvram_capacity'
  | 'nvram_downgrade'
  | 'nvram_locked'
  | 'nvram_invalid_data'
  | 'nvram_unsupported_firmware'
  | 'nvram_secret_unavailable'
  | 'nvram_closed'
  | 'nvram_prerequisite_failed';

export class NvramError extends Error {
  readonly code: NvramErrorCode;
  constructor(code: NvramErrorCode, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The serialized payload does not fit a bank. Nothing was written. */
export class NvramCapacityError extends NvramError {
  constructor(
    readonly payloadBytes: number,
    readonly capacityBytes: number,
  ) {
    super('nvram_capacity', `NVRAM full: the new content is ${payloadBytes} bytes, a bank holds ${capacityBytes} bytes; nothing was written`);
  }
}

/** The image was written by a newer firmware than the one booting. The image is left untouched. */
export class NvramDowngradeError extends NvramError {
  constructor(
    readonly imageFirmware: number,
    readonly runningFirmware: number,
  ) {
    super(
      'nvram_downgrade',
      `NVRAM image was written by firmware ${imageFirmware}, this is firmware ${runningFirmware}: downgrade refused, image left untouched`,
    );
  }
}

/** Another live process (or another instance in this process) holds the image. */
export class NvramLockedError extends NvramError {
  constructor(
    readonly lockFile: string,
    readonly holderPid: number,
  ) {
    super('nvram_locked', `NVRAM image is in use by process ${holderPid} (lock file ${lockFile}); one writer per image`);
  }
}

/** Data handed to update() does not satisfy the schema. Nothing was written. */
export class NvramInvalidDataError extends NvramError {
  constructor(readonly problem: string) {
    super('nvram_invalid_data', `NVRAM content rejected: ${problem}; nothing was written`);
  }
}

/** The device key is missing, unreadable or not the one the secret was sealed with. */
export class NvramSecretError extends NvramError {
  constructor(
    readonly secretName: string | null,
    readonly reason: string,
  ) {
    super('nvram_secret_unavailable', secretName ? `secret "${secretName}" is unreadable: ${reason}` : `device key unavailable: ${reason}`);
  }
}

/** The durable work a write had to follow (update()'s `after`) failed: nothing was written. Its reason is `cause`. */
export class NvramPrerequisiteError extends NvramError {
  constructor(cause: unknown) {
    super('nvram_prerequisite_failed', `NVRAM write not made: the work it had to follow failed (${(cause as Error | null)?.message ?? String(cause)}); nothing was written`);
    this.cause = cause;
  }
}
