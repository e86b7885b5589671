// How long work held the event loop: the longest gap between ticks of a short interval timer while it ran.
export async function longestStall(work: () => Promise<unknown>, tickMs = 10): Promise<number> {
  let last = performance.now();
  let longest = 0;
  const probe = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, tickMs);
  try {
    await work();
    // The last stretch of work only shows as a stall once a timer runs after it.
    await new Promise((resolve) => setTimeout(resolve, 3 * tickMs));
  } finally {
    clearInterval(probe);
  }
  return longest;
}
