/**
 * A bench name service: a tiny authoritative DNS responder (dns2, UDP and TCP on one port) that answers the names the
 * twin serves — login.microsoftonline.com, smtp.office365.com and the extra `--name`s — with the twin's address, so a
 * real device on the bench reaches the twin as Microsoft. It is not a resolver: recursion is never offered (RA = 0)
 * and every name it does not own is REFUSED, so a device pointed at it cannot reach anything else by name.
 *
 * dns2 rather than dnsmasq: pure JavaScript from npm (nothing to install on the bench, runs in-process on the twin's
 * lifecycle, tests on port 0); dnsmasq would need a Debian package, a generated config and a child process to manage.
 */
import { isIP } from 'node:net';
import type { AddressInfo } from 'node:net';
import dns2 from 'dns2';

const { Packet } = dns2;
type DnsPacket = InstanceType<typeof Packet>;

/** TTL of the answers: short, so a bench that moves the twin to another address is followed within a minute. */
export const DNS_TTL_SECONDS = 60;

export interface DnsResponderOptions {
  /** Address to listen on (UDP and TCP). */
  host: string;
  /** 0 = ephemeral (the same port is then taken for UDP and TCP). */
  port: number;
  /** Names answered (case-insensitive); `*.example.com` owns every name below example.com. */
  names: readonly string[];
  /** Addresses the names resolve to: IPv4 answers A queries, IPv6 AAAA queries. */
  addresses: readonly string[];
  /** Queries answered, for a debug log line (never carries anything secret: DNS names only). */
  onQuery?: (q: { client: string; name: string; type: string; rcode: string }) => void;
}

export interface DnsResponder {
  host: string;
  port: number;
  names: readonly string[];
  addresses: readonly string[];
  close(): Promise<void>;
}

export class DnsConfigError extends Error {
  override name = 'DnsConfigError';
}

const RCODE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Packet.RCODE).map(([k, v]) => [v, k]));
const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Packet.TYPE).map(([k, v]) => [v, k]));

/** What the responder says to one query: pure, so the rules can be read (and tested) without sockets. */
export function answerQuery(request: DnsPacket, names: readonly string[], addresses: readonly string[]): DnsPacket {
  const response = Packet.createResponseFromRequest(request);
  response.header.ra = 0; // no recursion offered, whatever the client asked for
  response.header.aa = 0;
  const fail = (rcode: number) => {
    response.header.rcode = rcode;
    return response;
  };
  if (request.errors?.length) return fail(Packet.RCODE.FORMERR);
  if (request.header.opcode !== 0) return fail(Packet.RCODE.NOTIMP);
  if (request.questions.length !== 1) return fail(Packet.RCODE.FORMERR);
  const q = request.questions[0]!;
  const name = q.name.toLowerCase().replace(/\.$/, '');
  if (q.class !== Packet.CLASS.IN && q.class !== Packet.CLASS.ANY) return fail(Packet.RCODE.REFUSED);
  const owned = ownership(name, names);
  if (owned === 'no') return fail(Packet.RCODE.REFUSED);
  response.header.aa = 1;
  // Below an exact name we own: authoritative "no such name" (nothing lives under login.microsoftonline.com here).
  if (owned === 'below') return fail(Packet.RCODE.NXDOMAIN);
  const wantA = q.type === Packet.TYPE.A || q.type === Packet.TYPE.ANY;
  const wantAAAA = q.type === Packet.TYPE.AAAA || q.type === Packet.TYPE.ANY;
  for (const address of addresses) {
    const family = isIP(address);
    if ((family === 4 && wantA) || (family === 6 && wantAAAA)) {
      response.answers.push(
        Packet.createResourceFromQuestion(q, { type: family === 4 ? Packet.TYPE.A : Packet.TYPE.AAAA, class: Packet.CLASS.IN, ttl: DNS_TTL_SECONDS, address }),
      );
    }
  }
  // Another type (MX, TXT…) of a name we own, or no address of that family: NOERROR with no answer (NODATA).
  return response;
}

function ownership(name: string, names: readonly string[]): 'exact' | 'below' | 'no' {
  let below = false;
  for (const raw of names) {
    const n = raw.toLowerCase();
    if (n.startsWith('*.')) {
      const base = n.slice(2);
      if (name.endsWith(`.${base}`)) return 'exact';
    } else if (name === n) return 'exact';
    else if (name.endsWith(`.${n}`)) below = true;
  }
  return below ? 'below' : 'no';
}

export async function startDnsResponder(o: DnsResponderOptions): Promise<DnsResponder> {
  if (isIP(o.host) === 0) throw new DnsConfigError(`the DNS responder listens on an IP address, not ${JSON.stringify(o.host)}`);
  if (o.addresses.length === 0) throw new DnsConfigError('the DNS responder needs at least one address to answer with');
  for (const a of o.addresses) if (isIP(a) === 0) throw new DnsConfigError(`not an IP address to answer with: ${JSON.stringify(a)}`);
  const names = o.names.filter((n) => isIP(n) === 0);
  const handle = (request: DnsPacket, send: (r: DnsPacket) => Promise<Buffer>, client: unknown) => {
    const response = answerQuery(request, names, o.addresses);
    const q = request.questions[0];
    o.onQuery?.({
      client: peerOf(client),
      name: q?.name ?? '',
      type: q ? (TYPE_NAMES[q.type] ?? String(q.type)) : '',
      rcode: RCODE_NAMES[response.header.rcode] ?? String(response.header.rcode),
    });
    // A client gone before the answer is its problem, not the twin's.
    send(response).catch(() => undefined);
  };
  const udpType = isIP(o.host) === 6 ? 'udp6' : 'udp4';
  // UDP first (port 0 picks one), then TCP on the same port: DNS clients retry a truncated answer over TCP there.
  for (let attempt = 0; ; attempt++) {
    const udp = dns2.createUDPServer({ type: udpType });
    const tcp = dns2.createTCPServer();
    // Kept-open TCP connections would hold close() for dns2's idle timeout: tracked and cut on close.
    const conns = new Set<import('node:net').Socket>();
    tcp.on('connection', (s: import('node:net').Socket) => {
      conns.add(s);
      s.once('close', () => conns.delete(s));
    });
    udp.on('request', handle);
    tcp.on('request', handle);
    // Undecodable datagrams are dropped (a FORMERR needs at least a header to answer to).
    udp.on('requestError', () => undefined);
    tcp.on('requestError', () => undefined);
    await listenUdp(udp, o.port, o.host);
    const port = (udp.address() as AddressInfo).port;
    try {
      await listenTcp(tcp, port, o.host);
    } catch (err) {
      udp.close();
      // The ephemeral UDP port may be taken on TCP by someone else: pick another (a few times).
      if (o.port === 0 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 5) continue;
      throw err;
    }
    return {
      host: o.host,
      port,
      names,
      addresses: [...o.addresses],
      close: async () => {
        await Promise.allSettled([
          new Promise<void>((r) => udp.close(() => r())),
          new Promise<void>((r) => {
            tcp.close(() => r());
            for (const s of conns) s.destroy();
          }),
        ]);
      },
    };
  }
}

function listenUdp(udp: import('node:dgram').Socket, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    udp.once('error', onError);
    udp.bind(port, host, () => {
      udp.off('error', onError);
      resolve();
    });
  });
}

function listenTcp(tcp: import('node:net').Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    tcp.once('error', onError);
    tcp.listen(port, host, () => {
      tcp.off('error', onError);
      resolve();
    });
  });
}

function peerOf(client: unknown): string {
  const c = client as { address?: string; remoteAddress?: string };
  return (c.remoteAddress ?? c.address ?? 'unknown').replace(/^::ffff:(?=\d+\.)/, '');
}

/** The line a device that takes a hosts file needs: `<address> login.microsoftonline.com smtp.office365.com …`. */
export function hostsFileLine(address: string, names: readonly string[]): string {
  return [address, ...names.filter((n) => isIP(n) === 0 && !n.startsWith('*.') && n !== 'localhost')].join(' ');
}
