// Fills the filesystem a test mounted (a small tmpfs) so that the gateway meets ENOSPC.
import { closeSync, openSync, writeSync } from 'node:fs';

/**
 * Writes zeros to `file` in 16 KB pieces until the filesystem refuses (ENOSPC); with `lastBlock`, then what a 16 KB
 * write left over, in 512-byte pieces to `<file>.tail`, so not even one more block is free. Returns the bytes written.
 */
export function fillDisk(file: string, opts: { lastBlock?: boolean } = {}): number {
  let n = writeUntilFull(file, 16 * 1024);
  if (opts.lastBlock) n += writeUntilFull(`${file}.tail`, 512);
  return n;
}

function writeUntilFull(file: string, size: number): number {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(size);
  let n = 0;
  try {
    for (;;) n += writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally { closeSync(fd); }
  return n;
}
