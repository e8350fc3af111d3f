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
    const raw = ownBytes(s.raw);
    const sent = this.file(s, raw, s.sender, 'SentItems');
    for (const inbox of new Set(s.inboxes.map((a) => a.toLowerCase()))) this.file(s, raw, inbox, 'Inbox');
    return sent;
  }

  private file(s: Submission, raw: Buffer, mailbox: string, folder: StoredMessage['folder']): StoredMessage {
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
      size: raw.length,
      attachments: s.parsed.attachments.map((a) => ({ filename: a.filename ?? null, contentType: a.contentType, size: a.size })),
    };
    const list = this.mailboxes.get(key) ?? [];
    list.push({ meta, raw });
    this.mailboxes.set(key, list);
    return meta;
  }
}

/**
 * The message's bytes in a backing store of their own size. A small message arrives as a slice of Node's shared
 * 8 KiB buffer pool (Buffer.concat of the DATA chunks), and a kept slice keeps the whole slab alive: a fleet's
 * twin held ~8 KiB per ~2 KiB mail (heap snapshot of 200 printers, 1,600 mails, docs/scaling.md).
 */
function ownBytes(bytes: Buffer): Buffer {
  if (bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length) return bytes;
  const own = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(own);
  return own;
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
