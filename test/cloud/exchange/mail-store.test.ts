/**
 * The twin's mail store keeps each accepted message's bytes as its own copy: a message arrives as a slice of a
 * larger buffer (Node's shared pool), and what the store holds must neither change with that buffer nor keep it alive.
 */
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { InMemoryMailStore } from '../../../src/cloud/exchange/mail-store.ts';

const MESSAGE = 'From: scanner@contoso.com\r\nTo: alice@contoso.com\r\nSubject: scan\r\nMessage-ID: <scan-1@contoso.com>\r\n\r\nScanned document attached.\r\n';

describe('InMemoryMailStore', () => {
  it('files Sent Items and Inbox copies whose bytes stay the message as accepted, whatever the submitter does with its buffer', async () => {
    // The message as a slice in the middle of a bigger buffer, the way Buffer.concat hands out small results.
    const slab = Buffer.alloc(8192, 0x2e);
    const length = slab.write(MESSAGE, 1000, 'utf8');
    const raw = slab.subarray(1000, 1000 + length);
    const store = new InMemoryMailStore();
    const sent = store.deliver({ raw, parsed: await simpleParser(raw), sender: 'scanner@contoso.com', inboxes: ['Alice@contoso.com'], receivedAt: 0 });
    slab.fill(0x21); // the submitter's buffer is reused for something else
    const inbox = store.list('alice@contoso.com');
    expect(sent).toMatchObject({ folder: 'SentItems', size: length, messageId: '<scan-1@contoso.com>' });
    expect(inbox).toMatchObject([{ folder: 'Inbox', size: length, messageId: '<scan-1@contoso.com>' }]);
    expect(store.raw('scanner@contoso.com', sent.id)?.toString('utf8')).toBe(MESSAGE);
    expect(store.raw('alice@contoso.com', inbox[0]!.id)?.toString('utf8')).toBe(MESSAGE);
  });
});
