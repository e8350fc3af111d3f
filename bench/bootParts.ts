/**
 * Where a cold boot's time goes (docs/benchmarks.md, "NVRAM speed"): the bench row's boot of a signed-in image with a
 * done record in the spool, whole, and each of its parts alone in a loop, CPU and wall per call, best of 5 rounds.
 * The parts are the library calls the boot makes, not a re-implementation: what is left of the whole after them is
 * the wiring around them. `node bin/run-ts.mjs bench/bootParts.ts` (not part of `npm run bench`).
 */
import fs from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { HEADER_SIZE, decodeHeader } from '../src/nvram/banks.ts';
import { checkNvramData, deepFreeze } from '../src/nvram/schema.ts';
import { acquireImageLock } from '../src/nvram/lock.ts';
import { loadOrCreateDeviceKey, SecretVault } from '../src/nvram/vault.ts';
import { nodeIo } from '../src/nvram/io.ts';
import { crc32 } from 'node:zlib';
import { processCpuMs } from '../src/util/process-cpu.ts';
import { restoreSnapshot } from '../src/device/boot.ts';
import { pureStepper } from '../src/device/dispatch.ts';
import { Spool } from '../src/device/spool.ts';
import { createDeviceAdapters, twinCloud } from '../src/adapters/index.ts';
import { silentLogger } from '../src/log/logger.ts';
import { openNvram } from '../src/nvram/index.ts';
import { createDevice } from '../src/device/device.ts';
import { VirtualClock } from '../src/time/clock.ts';
import { benchSimulator, signIn, twinCredentials } from './support.ts';

const creds = await twinCredentials();
const sim = await benchSimulator(creds);
await signIn(sim);
for (let i = 0; i < 3; i++) { await sim.device.submitJob({ to: ['admin@contoso.com'], subject: 's' + i, body: 'b' }); await sim.device.idle(); }
const file = path.join(sim.stateDir, 'nvram.json');
const spoolDir = path.join(sim.stateDir, 'spool');
const keyFile = path.join(sim.stateDir, 'secure-element.key');
const cloud = twinCloud(sim.twin!);
const logger = silentLogger();
const lastNow = sim.clock.now();
await sim.close();
const image = fs.readFileSync(file);
const hdr = [0, HEADER_SIZE].map((at) => JSON.parse(image.subarray(at, at + HEADER_SIZE).toString('utf8')));
const cur = hdr.reduce((a, b) => (b.seq > a.seq ? b : a));
const payloadText = image.toString('utf8', cur.offset, cur.offset + cur.length);
const content = JSON.parse(payloadText);
const key = await loadOrCreateDeviceKey(keyFile);
const vault = new SecretVault(key);
console.log(`image ${image.length} B, payload ${cur.length} B, secrets ${Object.keys(content.secrets).map((n) => `${n} ${content.secrets[n].ct.length} B`).join(', ')}, spool ${fs.readdirSync(spoolDir).length} files`);
const cpu = () => processCpuMs() * 1000; // µs, the unit of the figures below
async function part(name: string, fn: () => unknown, n = 1000): Promise<number> {
  for (let i = 0; i < 100; i++) await fn();
  let best = Infinity, bestWall = Infinity;
  for (let r = 0; r < 5; r++) {
    const c = cpu(), t = performance.now();
    for (let i = 0; i < n; i++) await fn();
    best = Math.min(best, (cpu() - c) / n); bestWall = Math.min(bestWall, (performance.now() - t) * 1000 / n);
  }
  console.log(`${name.padEnd(58)} ${best.toFixed(1).padStart(7)} µs CPU ${bestWall.toFixed(1).padStart(7)} µs wall`);
  return best;
}
const results: Record<string, number> = {};
const P = async (name: string, fn: () => unknown, n?: number) => (results[name] = await part(name, fn, n));
await P('raw: readFile + parse headers + parse payload (baseline)', async () => {
  const img = await readFile(file);
  const h = [0, HEADER_SIZE].map((at) => JSON.parse(img.subarray(at, at + HEADER_SIZE).toString('utf8')));
  const c = h.reduce((a, b) => (b.seq > a.seq ? b : a));
  JSON.parse(img.subarray(c.offset, c.offset + c.length).toString('utf8'));
});
await P('whole boot (openNvram + createDevice + idle + stop + close)', async () => {
  const clock = new VirtualClock(lastNow);
  const nvram = await openNvram({ file, now: () => clock.now() });
  const adapters = createDeviceAdapters({ cloud, logger });
  const device = await createDevice({ nvram, clock, ports: adapters.ports, spoolDir, logger });
  await device.idle();
  device.stop(); await adapters.shutdown(); await nvram.close();
}, 300);
await P('openNvram + close (the NVRAM part)', async () => { const nv = await openNvram({ file, now: () => lastNow }); await nv.close(); }, 300);
await P('lock file: take + release', async () => { const l = await acquireImageLock(file + '.parts'); await l.release(); });
await P('device key file: read + key id', () => loadOrCreateDeviceKey(keyFile));
await P('image: open, fstat, one read, close (sync)', async () => { const { file: f } = await nodeIo.open(file, 'readwrite'); await f.read(0, await f.size()); await f.close(); });
await P('both headers: decode + header CRC', () => { decodeHeader(image.subarray(0, HEADER_SIZE), 'A'); decodeHeader(image.subarray(HEADER_SIZE, 2 * HEADER_SIZE), 'B'); });
await P('both payload CRCs', () => { for (const h of hdr) crc32(image.subarray(h.offset, h.offset + h.length)); });
await P('current payload: utf8 decode + JSON.parse', () => JSON.parse(image.toString('utf8', cur.offset, cur.offset + cur.length)));
await P('schema check, every part whole', () => checkNvramData(content));
await P('deep freeze of the parsed content', () => deepFreeze(JSON.parse(payloadText)));
results['deep freeze of the parsed content'] -= results['current payload: utf8 decode + JSON.parse'];
console.log('  (deep freeze alone, the parse taken out ≈', results['deep freeze of the parsed content'].toFixed(1), 'µs)');
await P('key check: open every sealed secret', () => { for (const [n, b] of Object.entries(content.secrets)) vault.open(n, b as never); });
await P('statechart: restore the snapshot', () => restoreSnapshot(content.snapshot, lastNow));
const restored = restoreSnapshot(content.snapshot, lastNow)!;
await P('statechart: POWER_CYCLE step (stepper made + one step)', () => pureStepper()(restored.snapshot, { type: 'POWER_CYCLE', accessDeadlinePassed: false }));
const spool = new Spool(spoolDir);
await P('spool sweep: list + done records', () => spool.entries());
await P('adapters: createDeviceAdapters + ports', () => createDeviceAdapters({ cloud, logger }).ports({ load: () => undefined, stage: () => {} }));
const nvParts = ['lock file: take + release', 'device key file: read + key id', 'image: open, fstat, one read, close (sync)', 'both headers: decode + header CRC', 'both payload CRCs', 'current payload: utf8 decode + JSON.parse', 'schema check, every part whole', 'deep freeze of the parsed content', 'key check: open every sealed secret'];
const devParts = ['statechart: restore the snapshot', 'statechart: POWER_CYCLE step (stepper made + one step)', 'spool sweep: list + done records', 'adapters: createDeviceAdapters + ports'];
const sum = (ks: string[]) => ks.reduce((a, k) => a + (results[k] ?? 0), 0);
console.log('NVRAM parts sum', sum(nvParts).toFixed(0), '; rest of openNvram+close', (results['openNvram + close (the NVRAM part)'] - sum(nvParts)).toFixed(0));
console.log('device parts sum', sum(devParts).toFixed(0), '; rest of the device part', (results['whole boot (openNvram + createDevice + idle + stop + close)'] - results['openNvram + close (the NVRAM part)'] - sum(devParts)).toFixed(0));
fs.rmSync(creds, { recursive: true, force: true });
process.exit(0);
