// Turns what libraries print with console.* into log records, so a gateway's output stays one record per line.
//
// Haraka's dependencies print notices (`loaded TLD files`, `Using iconv-lite only`) with console.log; in a log of
// JSON lines each such line would be one a log shipper cannot read.
import { format } from 'node:util';
import type { Logger } from './types.ts';

type ConsoleMethod = 'log' | 'info' | 'debug' | 'warn' | 'error';
const METHODS: ConsoleMethod[] = ['log', 'info', 'debug', 'warn', 'error'];

/** Sends console output to `log` (warn and error as warnings) until the returned function restores the console. */
export function captureConsole(log: Logger): () => void {
  const saved = new Map(METHODS.map((m) => [m, console[m]] as const));
  for (const m of METHODS) {
    console[m] = (...args: unknown[]) => {
      const text = format(...args);
      if (m === 'warn' || m === 'error') log.warn('console output', { text });
      else if (m === 'debug') log.debug('console output', { text });
      else log.info('console output', { text });
    };
  }
  return () => { for (const [m, f] of saved) console[m] = f; };
}
