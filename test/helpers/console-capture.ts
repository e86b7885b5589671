// Runs a CLI command's `run` in-process with what it prints to the console captured, for asserting on its output.

/** The exit code `fn` returns and every console.log / console.error line it printed meanwhile. */
export async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  const err = console.error;
  console.log = (...a: unknown[]) => { lines.push(a.join(' ')); };
  console.error = console.log;
  try {
    return { code: await fn(), out: lines.join('\n') };
  } finally {
    console.log = log;
    console.error = err;
  }
}
