// What mailauth prints while it verifies a message goes to that message's log at debug, never to stdout as text.
//
// mailauth 4.x calls console.log('TOTAL', n, 'EXPECTING', l) for a DKIM signature whose l= is longer than the body. A
// gateway that does not capture the console (one embedded in another program, a test) would get a bare line in its
// JSON log; `moat start` captures it, but as an info record that names no source. Only what is printed in the async
// flow of a verification is taken: other sessions and plugins, running meanwhile, keep their console as it was.
import { AsyncLocalStorage } from 'node:async_hooks';
import { format } from 'node:util';
import type { Logger } from '../../core/index.ts';

const verifying = new AsyncLocalStorage<Logger>();

/** Marks the console.log this module put in place, so that it is not wrapped twice. */
const ROUTER = Symbol('mailauth console router');

type ConsoleLog = typeof console.log & { [ROUTER]?: true };

/**
 * Puts a console.log in place that sends a verification's lines to its log and passes every other call to the one it
 * replaced. Checked at each verification, not once: whoever replaces console.log (the gateway's console capture at
 * start, given back at stop; a test) does so without calling ours, and the next verification puts it back on top.
 */
function routeConsoleLog(): void {
  const current = console.log as ConsoleLog;
  if (current[ROUTER]) return;
  const router: ConsoleLog = (...args: unknown[]) => {
    const log = verifying.getStore();
    if (log) log.debug('library output', { source: 'mailauth', text: format(...args) });
    else current.apply(console, args);
  };
  router[ROUTER] = true;
  console.log = router;
}

/** Runs `verify` (a mailauth call) with what mailauth prints meanwhile logged to `log` at debug, `source: mailauth`. */
export function withMailauthConsole<T>(log: Logger, verify: () => Promise<T>): Promise<T> {
  routeConsoleLog();
  return verifying.run(log, verify);
}
