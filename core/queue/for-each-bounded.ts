// Work on many messages at once, but not all at once: a bounded number of tasks in flight, and turns of the event loop
// between slices of their synchronous work, so that SMTP clients are answered while a folder of 50,000 is read.

/** How long the workers keep the event loop before they let other work in (the control socket, signals, clients). */
const SLICE_MS = 20;

/**
 * Runs `task` on every item, at most `inFlight` at once. The first failure stops every worker from taking another
 * item (recovery must not go on deleting and renaming after it has failed) and is thrown once those in flight have
 * settled; a task that must not stop the others catches its own errors.
 */
export async function forEachBounded<T>(items: readonly T[], inFlight: number, task: (item: T) => Promise<void> | void): Promise<void> {
  let next = 0;
  let sliceStart = performance.now();
  let pause: Promise<void> | undefined;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failure) {
      try { await task(items[next++]); } catch (error) { failure ??= { error }; return; }
      if (!pause && performance.now() - sliceStart > SLICE_MS) {
        pause = new Promise((resolve) => setImmediate(() => { pause = undefined; sliceStart = performance.now(); resolve(); }));
      }
      if (pause) await pause;
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, items.length) }, worker));
  if (failure) throw failure.error;
}
