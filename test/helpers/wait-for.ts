// Polls for something a test cannot be told about directly: a log line a child process writes, a reply recorded later.

/** The first value `probe` gives that is not undefined, asked every 50 ms; throws naming `what` after `ms`. */
export async function waitFor<T>(what: string, probe: () => T | undefined, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
