// Entry of a fleet worker thread (piscina): workers do not inherit the TypeScript loader, so register it here first.
import { registerTypeScript } from '../../bin/ts-loader.mjs';

registerTypeScript();
const { runSliceTask } = await import('./sliceWorker.ts');
export default runSliceTask;
