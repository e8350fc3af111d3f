/** The fake phones of the tenant's users: one-time codes "sent" by SMS or shown in the authenticator app land here. */
import type { MfaMethod } from '../contracts.ts';

export interface PhoneMessage {
  upn: string;
  method: Exclude<MfaMethod, 'none'>;
  /** The one-time code; test data, readable only through loopback-only twin routes. */
  code: string;
  text: string;
  sentAt: string;
}

const KEEP_PER_USER = 20;

export class PhoneOutbox {
  private readonly byUser = new Map<string, PhoneMessage[]>();

  deliver(msg: PhoneMessage): void {
    const key = msg.upn.toLowerCase();
    const list = this.byUser.get(key) ?? [];
    list.unshift(msg);
    list.length = Math.min(list.length, KEEP_PER_USER);
    this.byUser.set(key, list);
  }

  /** Newest first. */
  list(upn: string): PhoneMessage[] {
    return [...(this.byUser.get(upn.toLowerCase()) ?? [])];
  }
}
