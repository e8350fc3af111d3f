/**
 * Panel row: GET /api/status with Basic auth on the real panel (helmet, session, CSRF, auth, schemas) against a
 * bare Fastify route answering the same status object, both on loopback in this process, autocannon for each.
 * Each server first gets a short warm-up run that is not counted: otherwise whichever runs first pays for the JIT
 * compiling the shared HTTP stack (node:http, Fastify's core) and the other one measures warm. Then the two
 * alternate for a few rounds and each keeps its best round: on a shared machine a burst of someone else's work
 * lands on one run, and the best round is the least disturbed one (both sides get the same treatment).
 */
import autocannon from 'autocannon';
import Fastify from 'fastify';
import { startPanel } from '../src/panel/index.ts';
import { row, type BenchRow, type BenchSim } from './support.ts';

const ADMIN_PASSWORD = 'Bench-Admin-Password-2026';

async function requestsPerSecond(url: string, headers: Record<string, string>, seconds: number): Promise<number> {
  const result = await autocannon({ url, headers, connections: 10, duration: seconds });
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) throw new Error(`${url}: ${bad} failed requests of ${result.requests.total}`);
  return result.requests.average;
}

export async function panelRow(sim: BenchSim, seconds = 2, warmUpSeconds = 1, rounds = 3): Promise<BenchRow> {
  const panel = await startPanel({ sim, port: 0, adminPassword: ADMIN_PASSWORD, logger: false });
  const bare = Fastify({ logger: false });
  bare.get('/api/status', async () => sim.device.status());
  await bare.listen({ host: '127.0.0.1', port: 0 });
  const address = bare.server.address();
  const bareUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/api/status`;
  try {
    const auth = { authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}` };
    const check = await fetch(`${panel.url}/api/status`, { headers: auth });
    if (check.status !== 200) throw new Error(`panel answered ${check.status} to Basic auth`);
    await requestsPerSecond(`${panel.url}/api/status`, auth, warmUpSeconds);
    await requestsPerSecond(bareUrl, {}, warmUpSeconds);
    let panelRps = 0;
    let bareRps = 0;
    for (let round = 0; round < rounds; round++) {
      panelRps = Math.max(panelRps, await requestsPerSecond(`${panel.url}/api/status`, auth, seconds));
      bareRps = Math.max(bareRps, await requestsPerSecond(bareUrl, {}, seconds));
    }
    return row({
      id: 'panel-status',
      name: 'Panel GET /api/status (Basic) vs bare Fastify',
      measured: { value: panelRps, unit: 'req/s' },
      baseline: { value: bareRps, unit: 'req/s' },
      ratio: panelRps / bareRps,
      target: { op: '>=', value: 0.5, text: '≥ 50%' },
      note: `autocannon, 10 connections, best of ${rounds} alternating ${seconds}-s runs each after ${warmUpSeconds} s warm-up, loopback, same process; the panel adds helmet headers, session, auth, response schema`,
    });
  } finally {
    await Promise.allSettled([panel.close(), bare.close()]);
  }
}
