// Entry of a fleet worker thread (piscina): workers do not inherit the TypeScript loader, so register tsx here first.
import { register } from 'tsx/esm/api';

register();
const { runSliceTask } = await import('./sliceWorker.ts');
export default runSliceTask;
