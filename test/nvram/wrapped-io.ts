/**
 * The real disk with some file calls replaced: what the NVRAM fault and tracing tests put between the store and
 * `nodeIo`. `override` gets the real file and returns the calls to replace; every other call goes to the disk.
 */
import { nodeIo, type NvramFile, type NvramIo } from '../../src/nvram/io.ts';

export function nodeIoWith(override: (inner: NvramFile) => Partial<NvramFile>): NvramIo {
  return {
    open: async (file, mode) => {
      const opened = await nodeIo.open(file, mode);
      const inner = opened.file;
      return {
        created: opened.created,
        file: {
          size: () => inner.size(),
          read: (p, l) => inner.read(p, l),
          write: (d, p, ph) => inner.write(d, p, ph),
          sync: () => inner.sync(),
          truncate: (n) => inner.truncate(n),
          close: () => inner.close(),
          ...override(inner),
        },
      };
    },
    syncDir: (d) => nodeIo.syncDir(d),
  };
}
