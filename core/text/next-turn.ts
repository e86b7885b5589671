// Turns of the event loop for other work (other clients' sessions) in the middle of a long computation.
export const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

/** How long one stretch of work on a large message may hold the event loop (every other client waits meanwhile). */
export const SLICE_MS = 20;

/**
 * For a long loop: call it each step; it returns a turn of the event loop to await once `sliceMs` of work has
 * passed since the last one, else undefined (so a cheap step costs no promise).
 */
export function pacer(sliceMs = SLICE_MS): () => Promise<void> | undefined {
  let since = performance.now();
  return () => {
    if (performance.now() - since < sliceMs) return undefined;
    return nextTurn().then(() => { since = performance.now(); });
  };
}
