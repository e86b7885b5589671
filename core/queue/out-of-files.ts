// Whole-folder reads (recovery, `moat queue list`, the journal's take-over) keep many files open at once, and the
// process may run out of descriptors for a moment: such a read is tried again, since the reads in flight give theirs
// back soon, rather than taken for a file that is not there.

/** Runs `read` again while the process is out of file descriptors (EMFILE, ENFILE), up to about 2 s. */
export async function retryWhileOutOfFiles<T>(read: () => T | Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try { return await read(); } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== 'EMFILE' && code !== 'ENFILE') || tries >= 200) throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
