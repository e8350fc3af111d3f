/**
 * A TLS failure the printer's own clock or trust store caused heals when they change: the admin sets the date, NTP
 * corrects the clock, a root is imported. Then the work it held (a refresh, a job parked in sendFailure) is retried
 * at once, as the admin's RETRY would, instead of waiting for a retry timer that may be long gone (TLS send failures
 * are permanent: retrying an unchanged printer would fail the same way). Sign-ins are started again by the admin.
 */
import type { Device } from './device.ts';
import { isTlsReason } from './failures.ts';

/** Subscribes a retry to each change source (the RTC's onChange, the trust store's onChange); returns the unsubscribe. */
export function retryTlsFailuresOnChange(device: () => Device, changes: readonly ((listener: () => void) => () => void)[]): () => void {
  const retry = () => {
    const d = device();
    if (!isTlsReason(d.status().lastError?.reason) || !d.can('RETRY')) return;
    void d.send({ type: 'RETRY' }).catch(() => undefined); // a refused RETRY (the state moved on meanwhile) is fine
  };
  const offs = changes.map((subscribe) => subscribe(retry));
  return () => offs.forEach((off) => off());
}
