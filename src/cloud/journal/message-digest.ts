/**
 * What identifies one job across resends, as the wire shows it: the Subject and the body (text and each attachment),
 * not the headers a resend may change (Date, Message-ID, Received). Only a digest reaches the journal.
 */
import { createHash } from 'node:crypto';
import type { ParsedMail } from 'mailparser';

export function messageDigest(parsed: Pick<ParsedMail, 'subject' | 'text' | 'attachments'>): string {
  const h = createHash('sha256');
  h.update(`${parsed.subject ?? ''}\0${parsed.text ?? ''}`);
  for (const a of parsed.attachments ?? []) h.update(`\0${a.filename ?? ''}\0${a.checksum ?? createHash('md5').update(a.content).digest('hex')}`);
  return h.digest('hex').slice(0, 16);
}
