import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { answerSntp, startSntpServer, type SntpServer } from '../../src/cloud/sntp/server.ts';
import { querySntp } from '../../src/adapters/sntp.ts';
import { VirtualClock } from '../../src/time/clock.ts';
import { DeviceRtc } from '../../src/time/rtc.ts';
import { decodeSntp } from '../../src/time/sntp-packet.ts';
import { api, startTestTwin } from './helpers.ts';

const START = Date.UTC(2026, 0, 5, 8, 0, 0);
const servers: SntpServer[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
});

async function server(world: VirtualClock) {
  const s = await startSntpServer({ clock: world, host: '127.0.0.1' });
  servers.push(s);
  return s;
}

describe('twin SNTP server and printer SNTP client over loopback UDP', () => {
  it('measures the printer RTC offset from the world: a clock reset to 2020 learns how far behind it is', async () => {
    const world = new VirtualClock(START);
    const s = await server(world);
    const rtc = new DeviceRtc(world);
    rtc.set(Date.UTC(2020, 0, 1));
    const out = await querySntp({ host: s.host, port: s.port, clock: rtc });
    expect(out.ok).toBe(true);
    if (!out.ok) return;
    expect(out.offsetMs).toBe(START - Date.UTC(2020, 0, 1)); // the virtual clock does not move during the exchange
    expect(out.serverTime).toBe(START);
    expect(out.stratum).toBe(1);
    rtc.step(out.offsetMs);
    expect(rtc.skewMs()).toBe(0);
    expect(s.answered()).toBe(1);
  });

  it('times out when the server is unreachable (fault), and answers again when reachable', async () => {
    const world = new VirtualClock(START);
    const s = await server(world);
    s.setReachable(false);
    const rtc = new DeviceRtc(world);
    const out = await querySntp({ host: s.host, port: s.port, clock: rtc, timeoutMs: 200 });
    expect(out).toMatchObject({ ok: false, reason: 'timeout' });
    s.setReachable(true);
    expect((await querySntp({ host: s.host, port: s.port, clock: rtc })).ok).toBe(true);
  });

  it('answers a hand-built RFC 4330 client request (independent of our encoder) with mode 4 and the echoed timestamp', async () => {
    const world = new VirtualClock(START);
    const s = await server(world);
    const req = Buffer.alloc(48);
    req[0] = 0x1b; // LI 0, VN 3, mode 3: what ntpdate -q and most SNTP clients send
    req.writeUInt32BE(0xdeadbeef, 40);
    req.writeUInt32BE(0x01020304, 44);
    const sock = createSocket('udp4');
    const reply = await new Promise<Buffer>((resolve) => {
      sock.once('message', (m) => resolve(m));
      sock.send(req, s.port, s.host);
    });
    sock.close();
    expect(reply.length).toBe(48);
    expect(reply[0]).toBe(0x1c); // LI 0, VN 3 (as asked), mode 4
    expect(reply.readUInt32BE(24)).toBe(0xdeadbeef);
    expect(reply.readUInt32BE(28)).toBe(0x01020304);
    const secs = reply.readUInt32BE(40);
    expect((secs - 2_208_988_800) * 1000).toBe(START);
  });

  it('does not answer garbage: short packets, server-mode packets, unknown versions', () => {
    expect(answerSntp(Buffer.alloc(10), START)).toBeNull();
    const serverMode = Buffer.alloc(48);
    serverMode[0] = 0x24;
    expect(answerSntp(serverMode, START)).toBeNull();
    const v7 = Buffer.alloc(48);
    v7[0] = (7 << 3) | 3;
    expect(answerSntp(v7, START)).toBeNull();
    const ok = Buffer.alloc(48);
    ok[0] = 0x23;
    expect(decodeSntp(answerSntp(ok, START)!).mode).toBe(4);
  });

  it('rejects a reply that does not echo the request (stray or forged)', async () => {
    const world = new VirtualClock(START);
    const fake = createSocket('udp4');
    await new Promise<void>((r) => fake.bind(0, '127.0.0.1', () => r()));
    fake.on('message', (_m, rinfo) => {
      const reply = Buffer.alloc(48);
      reply[0] = 0x24;
      reply[1] = 1;
      reply.writeUInt32BE(3_000_000_000, 32);
      reply.writeUInt32BE(3_000_000_000, 40);
      fake.send(reply, rinfo.port, rinfo.address);
    });
    const out = await querySntp({ host: '127.0.0.1', port: fake.address().port, clock: world });
    fake.close();
    expect(out).toMatchObject({ ok: false, reason: 'bad-reply' });
  });
});

describe("the twin's control API for its NTP server", () => {
  it('shows the endpoint, drops requests while unreachable (the fault), answers again; bad input is a 400', async () => {
    const world = new VirtualClock(START);
    const twin = await startTestTwin({ clock: world });
    try {
      const shown = await api(twin, 'GET', '/_twin/ntp');
      expect(shown.json).toEqual({ host: '127.0.0.1', port: twin.ntp.port, reachable: true, answered: 0 });
      expect((await api(twin, 'PUT', '/_twin/ntp', { reachable: false })).json.reachable).toBe(false);
      const rtc = new DeviceRtc(world);
      expect(await querySntp({ host: twin.ntp.host, port: twin.ntp.port, clock: rtc, timeoutMs: 200 })).toMatchObject({ ok: false, reason: 'timeout' });
      expect((await api(twin, 'PUT', '/_twin/ntp', { reachable: 'no' })).status).toBe(400);
      expect(twin.ntp.reachable()).toBe(false);
      await api(twin, 'PUT', '/_twin/ntp', { reachable: true });
      expect((await querySntp({ host: twin.ntp.host, port: twin.ntp.port, clock: rtc })).ok).toBe(true);
      expect((await api(twin, 'GET', '/_twin/ntp')).json.answered).toBe(1);
      const doc = await api(twin, 'GET', '/_twin/openapi.json');
      expect(Object.keys(doc.json.paths)).toContain('/_twin/ntp');
    } finally {
      await twin.close();
    }
  });
});
