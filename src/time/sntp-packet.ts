/**
 * The SNTP packet of RFC 4330 (48 bytes, no extension fields, no authenticator), used by the twin's server and the
 * printer's client alike. Timestamps are NTP's 64-bit fixed point: seconds since 1900-01-01 and a 32-bit fraction;
 * here they are converted to and from milliseconds since the Unix epoch.
 */
export const SNTP_PACKET_BYTES = 48;
/** Seconds from 1900-01-01 (NTP's era 0) to 1970-01-01. */
const NTP_UNIX_OFFSET_S = 2_208_988_800;
const TWO_POW_32 = 2 ** 32;

export const MODE_CLIENT = 3;
export const MODE_SERVER = 4;

export interface SntpPacket {
  leap: number; // 0..3; 3 = clock not synchronized
  version: number; // 1..7 on the wire; 4 today
  mode: number; // 3 client, 4 server
  stratum: number; // 0 = kiss-o'-death / unspecified, 1 = primary
  poll: number;
  precision: number; // signed log2 seconds
  rootDelay: number; // raw 16.16 fixed point
  rootDispersion: number; // raw 16.16 fixed point
  referenceId: string; // four ASCII characters for stratum 0/1 (e.g. "LOCL", or a kiss code such as "RATE")
  referenceMs: number | null;
  originateMs: number | null;
  receiveMs: number | null;
  transmitMs: number | null;
  /** The transmit timestamp exactly as sent, so a client can match the server's originate field bit for bit. */
  transmitRaw: Buffer;
}

export class SntpFormatError extends Error {
  override readonly name = 'SntpFormatError';
}

export function writeTimestamp(buf: Buffer, offset: number, ms: number | null): void {
  if (ms === null) {
    buf.writeUInt32BE(0, offset);
    buf.writeUInt32BE(0, offset + 4);
    return;
  }
  const totalS = ms / 1000 + NTP_UNIX_OFFSET_S;
  const seconds = Math.floor(totalS);
  const fraction = Math.floor((totalS - seconds) * TWO_POW_32);
  // Era 0 ends in 2036; wrap modulo 2^32 as RFC 4330 section 3 prescribes for era 1.
  buf.writeUInt32BE(seconds % TWO_POW_32 >>> 0, offset);
  buf.writeUInt32BE(fraction >>> 0, offset + 4);
}

/** Reads a timestamp; 0 means "not set". Values with the top bit clear are taken as era 1 (after 2036), per RFC 4330. */
export function readTimestamp(buf: Buffer, offset: number): number | null {
  const seconds = buf.readUInt32BE(offset);
  const fraction = buf.readUInt32BE(offset + 4);
  if (seconds === 0 && fraction === 0) return null;
  const era = (seconds & 0x8000_0000) === 0 ? TWO_POW_32 : 0;
  return (seconds + era - NTP_UNIX_OFFSET_S) * 1000 + (fraction / TWO_POW_32) * 1000;
}

export function encodeSntp(p: Omit<SntpPacket, 'transmitRaw'>): Buffer {
  const buf = Buffer.alloc(SNTP_PACKET_BYTES);
  buf.writeUInt8(((p.leap & 3) << 6) | ((p.version & 7) << 3) | (p.mode & 7), 0);
  buf.writeUInt8(p.stratum & 0xff, 1);
  buf.writeInt8(p.poll, 2);
  buf.writeInt8(p.precision, 3);
  buf.writeUInt32BE(p.rootDelay >>> 0, 4);
  buf.writeUInt32BE(p.rootDispersion >>> 0, 8);
  buf.write(p.referenceId.padEnd(4, '\0').slice(0, 4), 12, 4, 'latin1');
  writeTimestamp(buf, 16, p.referenceMs);
  writeTimestamp(buf, 24, p.originateMs);
  writeTimestamp(buf, 32, p.receiveMs);
  writeTimestamp(buf, 40, p.transmitMs);
  return buf;
}

export function decodeSntp(buf: Buffer): SntpPacket {
  if (buf.length < SNTP_PACKET_BYTES) throw new SntpFormatError(`SNTP packet too short: ${buf.length} bytes, need ${SNTP_PACKET_BYTES}`);
  const first = buf.readUInt8(0);
  return {
    leap: first >> 6,
    version: (first >> 3) & 7,
    mode: first & 7,
    stratum: buf.readUInt8(1),
    poll: buf.readInt8(2),
    precision: buf.readInt8(3),
    rootDelay: buf.readUInt32BE(4),
    rootDispersion: buf.readUInt32BE(8),
    referenceId: buf.toString('latin1', 12, 16).replace(/\0+$/, ''),
    referenceMs: readTimestamp(buf, 16),
    originateMs: readTimestamp(buf, 24),
    receiveMs: readTimestamp(buf, 32),
    transmitMs: readTimestamp(buf, 40),
    transmitRaw: Buffer.from(buf.subarray(40, 48)),
  };
}
