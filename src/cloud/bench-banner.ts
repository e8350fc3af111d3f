/**
 * The banner lines about how a bench reaches the twin (exposure, control token, hosts-file line, DNS responder),
 * shared by `mfp-sim cloud` and `mfp-sim start`. The control token appears here and nowhere else (printed once).
 */
import type { Twin } from './twin.ts';

export function benchBannerLines(twin: Pick<Twin, 'exposed' | 'controlToken' | 'addresses' | 'hostsLine' | 'dns'>, label = (s: string) => `  ${s.padEnd(19)}`): string[] {
  const lines: string[] = [];
  if (twin.exposed) {
    lines.push(`${label('Exposed:')}reachable at ${twin.addresses.join(', ')} (beyond loopback: /_twin needs the bearer token)`);
    if (twin.controlToken) lines.push(`${label('Control token:')}${twin.controlToken}   (shown once; Authorization: Bearer <token>)`);
  }
  lines.push(`${label('Hosts-file line:')}${twin.hostsLine}`);
  if (twin.dns) {
    lines.push(`${label('DNS responder:')}${bracket(twin.dns.host)}:${twin.dns.port} udp+tcp, answers ${twin.dns.names.join(', ')} with ${twin.dns.addresses.join(', ')}`);
  }
  return lines;
}

const bracket = (h: string) => (h.includes(':') ? `[${h}]` : h);
