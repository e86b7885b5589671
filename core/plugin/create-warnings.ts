// The warnings a plugin logs while it is created (an option that cannot take effect in this chain, say), kept for
// `moat reload` to print: an admin who reloads reads its output, not the log.
import type { LogFields, Logger } from '../log/types.ts';

/** Fields shown after a warning's text: scalars only, as a plugin's log line gives the rest. */
function shownFields(fields: LogFields | undefined): string {
  const parts = Object.entries(fields ?? {})
    .filter(([, v]) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
    .map(([k, v]) => `${k}: ${String(v)}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

/**
 * A logger that logs as `log` does and, until `stop` is called, also hands each warn line to `record`, its children
 * too. The plugin keeps the logger for its life: what it warns about later (per message) is the log's alone.
 */
export function recordWarnings(log: Logger, record: (text: string) => void): { log: Logger; stop(): void } {
  let recording = true;
  const wrap = (inner: Logger): Logger => ({
    debug: (msg, fields) => inner.debug(msg, fields),
    info: (msg, fields) => inner.info(msg, fields),
    warn: (msg, fields) => {
      inner.warn(msg, fields);
      if (recording) record(`${msg}${shownFields(fields)}`);
    },
    error: (msg, fields) => inner.error(msg, fields),
    child: (fields) => wrap(inner.child(fields)),
  });
  return { log: wrap(log), stop: () => { recording = false; } };
}
