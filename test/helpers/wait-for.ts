// Polls for something a test cannot be told about directly: a log line a child process writes, a reply recorded later.

/**
 * The first value `probe` gives that is not undefined, asked every 50 ms; throws naming `what` after `ms`.
 * The probe may be async (a connection attempt, a file read): the next ask waits for the last one to settle.
 * `what` may be a function, to say at the timeout what was seen instead (the output so far, say).
 */
export async function waitFor<T>(what: string | (() => string), probe: () => T | undefined | Promise<T | undefined>, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** waitFor for a yes/no condition: resolves once `check` holds. */
export async function waitUntil(what: string | (() => string), check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  await waitFor(what, async () => (await check()) || undefined, ms);
}
