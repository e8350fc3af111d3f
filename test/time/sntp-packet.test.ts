import { describe, expect, it } from 'vitest';
import { decodeSntp, encodeSntp, readTimestamp, SntpFormatError, writeTimestamp } from '../../src/time/sntp-packet.ts';

describe('SNTP packet (RFC 4330)', () => {
  it('encodes the Unix epoch as NTP seconds 2208988800 and reads it back', () => {
    const buf = Buffer.alloc(8);
    writeTimestamp(buf, 0, 0);
    expect(buf.readUInt32BE(0)).toBe(2_208_988_800);
    expect(buf.readUInt32BE(4)).toBe(0);
    expect(readTimestamp(buf, 0)).toBe(0);
  });

  it('keeps millisecond precision in the 32-bit fraction', () => {
    const buf = Buffer.alloc(8);
    const t = Date.UTC(2026, 0, 5, 8, 0, 0, 250);
    writeTimestamp(buf, 0, t);
    expect(buf.readUInt32BE(4)).toBe(2 ** 30); // a quarter of a second
    expect(Math.abs((readTimestamp(buf, 0) as number) - t)).toBeLessThan(0.001);
  });

  it('reads timestamps after 2036 as era 1 (top bit clear)', () => {
    const buf = Buffer.alloc(8);
    const t = Date.UTC(2040, 0, 1);
    writeTimestamp(buf, 0, t);
    expect(buf.readUInt32BE(0) & 0x8000_0000).toBe(0);
    expect(readTimestamp(buf, 0)).toBe(t);
  });

  it('puts LI, VN and mode in the first byte, as a client request from the RFC: 0x23 = LI 0, VN 4, mode 3', () => {
    const buf = encodeSntp({
      leap: 0, version: 4, mode: 3, stratum: 0, poll: 0, precision: 0, rootDelay: 0, rootDispersion: 0,
      referenceId: '', referenceMs: null, originateMs: null, receiveMs: null, transmitMs: null,
    });
    expect(buf.length).toBe(48);
    expect(buf[0]).toBe(0x23);
    const back = decodeSntp(buf);
    expect([back.leap, back.version, back.mode]).toEqual([0, 4, 3]);
    expect(back.transmitMs).toBeNull();
  });

  it('round-trips every field', () => {
    const p = {
      leap: 0, version: 4, mode: 4, stratum: 1, poll: 6, precision: -20, rootDelay: 0x10000, rootDispersion: 7,
      referenceId: 'LOCL', referenceMs: 1_000_000, originateMs: 2_000_000, receiveMs: 3_000_000, transmitMs: 4_000_000,
    };
    const back = decodeSntp(encodeSntp(p));
    const { transmitRaw, ...rest } = back;
    expect(transmitRaw.length).toBe(8);
    expect(rest).toEqual(p);
  });

  it('refuses a short packet with a clear error', () => {
    expect(() => decodeSntp(Buffer.alloc(47))).toThrow(SntpFormatError);
    expect(() => decodeSntp(Buffer.alloc(47))).toThrow(/47 bytes/);
  });
});
