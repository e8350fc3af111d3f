/**
 * Child process for the SIGKILL test: opens the image, then loops update() with an increasing counter and reports
 * each commit on stdout ("committed N") only after update() resolved. Every third write also rewrites a sealed
 * secret of varying size so payload lengths differ between banks. Runs until killed.
 * Usage: node --import tsx test/nvram/child-writer.ts IMAGE KEYFILE
 */
import { openNvram } from '../../src/nvram/index.ts';

const [file, keyFile] = process.argv.slice(2);
if (!file || !keyFile) throw new Error('usage: child-writer.ts IMAGE KEYFILE');
const nvram = await openNvram({ file, keyFile, factoryDevice: { id: 'sigkill-child', serial: 'SIMKILL' } });
let n = (nvram.data.panel.counter as number | undefined) ?? 0;
process.stdout.write(`ready ${n} ${nvram.boot.recovered ? 'recovered' : 'clean'}\n`);
for (;;) {
  n++;
  const counter = n;
  await nvram.update((draft, vault) => {
    draft.panel.counter = counter;
    if (counter % 3 === 0) vault.set('msal-cache', `token-${counter}-`.padEnd(100 + ((counter * 37) % 900), 'x'));
  });
  process.stdout.write(`committed ${counter}\n`);
}
