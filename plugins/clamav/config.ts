// Options of the clamav plugin, with their defaults.
import { addedFieldNameProblem, FIELD_NAME, s, type Infer, type Issue } from '../../core/index.ts';

const commandSchema = s.object({
  template: s.string({ minLength: 1 })
    .describe('Command line; `{file}` is replaced by the path of the file to scan. Run without a shell, split on spaces (quote with "…")'),
  infected_exit_codes: s.array(s.number({ integer: true, min: 0 })).default([1])
    .describe('Exit codes that mean "infected"'),
  clean_exit_codes: s.array(s.number({ integer: true, min: 0 })).default([0])
    .describe('Exit codes that mean "clean"; any other code is a scanner error'),
  virus_pattern: s.string().default(':\\s*(.+?)\\s+FOUND\\s*$')
    .describe('Regular expression (multi-line) over the output whose first group is the virus name'),
});

const options = s.object({
  scanner: s.enum(['clamd', 'command'] as const).default('clamd')
    .describe('`clamd`: stream to clamd with INSTREAM; `command`: run a command-line scanner on the spool file'),
  socket: s.string().optionalValue().describe('clamd unix socket path (relative to the config file)'),
  host: s.string().optionalValue().describe('clamd TCP host; used when `socket` is unset'),
  port: s.number({ integer: true, min: 1, max: 65535 }).optionalValue().describe('clamd TCP port (3310 when only `host` is set)'),
  connect_timeout: s.duration().default(2_000).describe('Time to connect to clamd'),
  scan_timeout: s.duration().default(20_000)
    .describe('Time from connection to clamd\'s answer (or the command\'s run time); the entry\'s `timeout` must be above `max_wait + connect_timeout + scan_timeout`'),
  max_concurrent: s.number({ integer: true, min: 1, max: 256 }).default(4)
    .describe('Scans in flight at once; more wait up to `max_wait` for a slot, then count as a scanner failure'),
  max_wait: s.duration().default(5_000)
    .describe('Time a scan waits for a free slot (of `max_concurrent`) before it counts as a scanner failure (`on_error`)'),
  large_message_size: s.size().default(10 * 1024 * 1024)
    .describe('A message of at least this size is large: large messages share `large_message_slots` of the `max_concurrent` slots'),
  large_message_slots: s.number({ integer: true, min: 1, max: 256 }).optionalValue()
    .describe('Slots large messages may hold at once, at most `max_concurrent`; unset: `max_concurrent - 1` (at least 1), so one slot stays for smaller mail'),
  max_scan_size: s.size().default(25 * 1024 * 1024)
    .describe('Largest message sent to the scanner; keep it at or under clamd\'s StreamMaxLength'),
  on_oversize: s.enum(['reject', 'tempfail', 'accept'] as const).default('reject')
    .describe('A message over `max_scan_size`: `reject` (552 5.3.4), `tempfail` (452 4.3.1) or `accept` unscanned with the warning header'),
  action: s.enum(['reject', 'quarantine', 'tag', 'strip'] as const).default('reject')
    .describe('On a virus: `reject` (554 5.7.1 with the name), `quarantine`, `tag` (header only) or `strip` the infected parts'),
  on_error: s.enum(['tempfail', 'accept'] as const).default('tempfail')
    .describe('Scanner unreachable, timed out or failing: `tempfail` (451 4.7.0) or `accept` unscanned with the warning header'),
  header: s.checked(s.string({ pattern: FIELD_NAME, patternName: 'a header name' }), (v, at, issues) => {
    // Refused here rather than as a 451 for every infected message, which is where ctx.addHeader would refuse it.
    const problem = addedFieldNameProblem(v);
    if (problem) issues.push({ path: at, message: problem });
  }).default('X-Mailmoat-Virus')
    .describe('Header that carries the virus names (tag, strip) or why the message was not scanned (accept on error/oversize)'),
  score: s.number().default(0)
    .describe('Score of the CLAM_VIRUS finding; the action already decides, so raise it only to weigh a tagged virus in the verdict'),
  notice: s.string().default('This part of the message contained the virus {virus} and was removed by the mail gateway.')
    .describe('Text that replaces each stripped part; `{virus}` and `{filename}` are filled in'),
  command: commandSchema.optionalValue().describe('The command-line scanner, for `scanner: command`'),
});

/**
 * Rules across keys, so that `moat check-config` refuses what the plugin's start would refuse:
 * a scanner with no place to reach and a virus pattern that is no regular expression.
 */
function checkScanner(cfg: Infer<typeof options>, at: string, issues: Issue[]): void {
  if (cfg.scanner === 'clamd' && !cfg.socket && !cfg.host && !cfg.port) {
    issues.push({ path: at, message: 'set `socket` (clamd\'s LocalSocket) or `host`/`port` (its TCPSocket)' });
  }
  if (cfg.scanner === 'command' && !cfg.command) {
    issues.push({ path: `${at}.command`, message: '`scanner: command` needs a `command` with a `template`' });
  }
  if (cfg.large_message_slots !== undefined && cfg.large_message_slots > cfg.max_concurrent) {
    issues.push({ path: `${at}.large_message_slots`, message: `is ${cfg.large_message_slots}, above max_concurrent (${cfg.max_concurrent})` });
  }
  if (cfg.command) {
    try { new RegExp(cfg.command.virus_pattern, 'gm'); } catch (err) {
      issues.push({ path: `${at}.command.virus_pattern`, message: (err as Error).message });
    }
  }
}

export const configSchema = s.checked(options, checkScanner);

/**
 * What one scan may take with these options: a slot wait, a connection (clamd only) and the scan. The entry's hook
 * timeout must be above it, or the core answers a slow or queued scan with its own 451 4.3.0 before `on_error` applies.
 */
export function scanBudget(cfg: Pick<ClamavConfig, 'scanner' | 'max_wait' | 'connect_timeout' | 'scan_timeout'>): { ms: number; why: string } {
  return cfg.scanner === 'command'
    ? { ms: cfg.max_wait + cfg.scan_timeout, why: 'max_wait + scan_timeout' }
    : { ms: cfg.max_wait + cfg.connect_timeout + cfg.scan_timeout, why: 'max_wait + connect_timeout + scan_timeout' };
}

export type ClamavConfig = Infer<typeof configSchema>;

/**
 * How many scan slots large messages may hold at once. Unset, all but one: a handful of big messages (seconds each)
 * must not leave ordinary mail waiting past `max_wait` for a 451. With one slot in all there is nothing to keep back.
 */
export function largeSlots(cfg: Pick<ClamavConfig, 'max_concurrent' | 'large_message_slots'>): number {
  return Math.min(cfg.max_concurrent, cfg.large_message_slots ?? Math.max(1, cfg.max_concurrent - 1));
}
export type CommandConfig = Infer<typeof commandSchema>;

/** Bytes as an admin writes them in the config: `50MB` when whole mebibytes (the config's MB), else the bytes. */
function shownSize(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  return Number.isInteger(mb) ? `${mb}MB (${bytes} bytes)` : `${bytes} bytes`;
}

/**
 * Why messages the gateway takes by size would be refused by this plugin, when they would: the gateway advertises
 * SIZE `limits.max_message_size` and receives the whole message, then the plugin refuses one over `max_scan_size`
 * for good (or defers it until it bounces). Undefined when the limits agree, or when `on_oversize: accept` relays
 * such messages unscanned, as the admin chose. `moat check-config` warns with it; it is no error, since refusing
 * what cannot be scanned may be meant.
 */
export function oversizeWarning(cfg: Pick<ClamavConfig, 'scanner' | 'max_scan_size' | 'on_oversize' | 'header'>, maxMessageSize: number): string | undefined {
  if (cfg.on_oversize === 'accept' || !(cfg.max_scan_size < maxMessageSize)) return undefined;
  const fate = cfg.on_oversize === 'reject' ? 'refuses every message between the two for good (552 5.3.4 Message too large to scan for viruses)'
    : 'defers every message between the two (452 4.3.1), which its sender retries until it bounces';
  const scannerLimit = cfg.scanner === 'clamd' ? 'clamd\'s StreamMaxLength' : 'the scanner\'s own size limit';
  return `limits.max_message_size is ${shownSize(maxMessageSize)}, which the gateway advertises (SIZE ${maxMessageSize}) and accepts, but `
    + `max_scan_size is ${shownSize(cfg.max_scan_size)}: the clamav plugin ${fate}. `
    + `Raise max_scan_size to ${shownSize(maxMessageSize)} and ${scannerLimit} with it, or lower limits.max_message_size to ${shownSize(cfg.max_scan_size)}, `
    + `or set on_oversize: accept to relay such messages unscanned with the ${cfg.header} header`;
}
