/**
 * A limit of the process or the host, not a fault of the printer: named with what to do about it, so a fleet too
 * large for its descriptors reads as that and not as thousands of device failures.
 */
export function processLimitHit(message: string): string | null {
  if (/\bEMFILE\b/.test(message)) return 'the fleet process ran out of file descriptors (EMFILE): raise `ulimit -n` or lower --concurrency';
  if (/\bENFILE\b/.test(message)) return 'the host ran out of file descriptors (ENFILE): raise fs.file-max or run fewer printers per host';
  return null;
}
