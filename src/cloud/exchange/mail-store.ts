/**
 * The twin's mailboxes, in memory: raw RFC 5322 bytes plus the fields the control API lists, parsed once with
 * mailparser when the message is accepted.
 */
import { randomUUID } from 'node:crypto';
import type { AddressObject, ParsedMail } from 'mailparser';
import type { MailStore, StoredMessage } from '../contracts.ts';

export interface Submission {
  raw: Buffer;
  parsed: ParsedMail;
  /** The signed-in mailbox that submitted it (gets the SentItems copy). */
  sender: string;
  /** In-tenant recipients (each gets an Inbox copy). */
  inboxes: string[];
  receivedAt: number;
}

export class InMemoryMailStore implements MailStore {
  private readonly mailboxes = new Map<string, { meta: StoredMessage; raw: Buffer }[]>();

  list(upn: string): StoredMessage[] {
    return (this.mailboxes.get(upn.toLowerCase()) ?? []).map((m) => structuredClone(m.meta));
  }

  raw(upn: string, id: string): Buffer | undefined {
    const hit = this.mailboxes.get(upn.toLowerCase())?.find((m) => m.meta.id === id);
    return hit ? Buffer.from(hit.raw) : undefined;
  }

  /** Files the sender's SentItems copy and one Inbox copy per in-tenant recipient; returns the sender's copy. */
  deliver(s: Submission): StoredMessage {
    const sent = this.file(s, s.sender, 'SentItems');
    for (const inbox of new Set(s.inboxes.map((a) => a.toLowerCase()))) this.file(s, inbox, 'Inbox');
    return sent;
  }

  private file(s: Submission, mailbox: string, folder: StoredMessage['folder']): StoredMessage {
    const key = mailbox.toLowerCase();
    const meta: StoredMessage = {
      id: randomUUID(),
      folder,
      mailbox: key,
      messageId: s.parsed.messageId ?? null,
      from: addresses(s.parsed.from)[0] ?? null,
      to: addresses(s.parsed.to),
      subject: s.parsed.subject ?? null,
      receivedAt: new Date(s.receivedAt).toISOString(),
      size: s.raw.length,
      attachments: s.parsed.attachments.map((a) => ({ filename: a.filename ?? null, contentType: a.contentType, size: a.size })),
    };
    const list = this.mailboxes.get(key) ?? [];
    list.push({ meta, raw: s.raw });
    this.mailboxes.set(key, list);
    return meta;
  }
}

/** Plain addresses of a parsed header (groups flattened). */
export function addresses(header: AddressObject | AddressObject[] | undefined): string[] {
  const objects = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const out: string[] = [];
  const walk = (list: AddressObject['value']) => {
    for (const a of list) {
      if (a.address) out.push(a.address.toLowerCase());
      if (a.group) walk(a.group);
    }
  };
  for (const o of objects) walk(o.value);
  return out;
}
