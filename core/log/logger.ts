// JSON-lines logger (readable text on a terminal); fields named like secrets are masked before writing.
import type { Logger, LogFields, LogLevel } from './types.ts';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
/** `pass`, `smtp_pass`, `password`, `passwd`, `passphrase`, but not `passes` or `passed` (a count of greylist passes). */
const SECRET_KEY = /pass(?:word|wd|phrase)?(?![a-z])|secret|authorization|credential/i;
/** The metrics' count of findings by symbol (`findings_SPF_PASS`): a symbol names a check's result, never a secret. */
const FINDINGS_COUNTER = /^findings_[A-Z0-9_]+$/;
/** `key`, `api_key`, `apiKey`, `private-key`: a name whose last word is "key" (not `keys`, `keyword`, `monkey`). */
const KEY_KEY = /(?:^|[_.-])(?:key|Key|KEY)$|[a-z0-9]Key$/;
/** Auth and API tokens are secrets, but `tokens` is also the count of a message's or a dictionary's words. */
const TOKEN_KEY = /token/i;

export interface LogSink { write(line: string): void }
export type LogFormat = 'auto' | 'json' | 'text';

const textFormat = (format: LogFormat, autoText: boolean): boolean => format === 'text' || (format === 'auto' && autoText);

/** Whether a field must be masked: any value under a secret's name, and anything but a number under a token's. */
function isSecret(key: string, value: unknown): boolean {
  if (FINDINGS_COUNTER.test(key) && typeof value === 'number') return false;
  if (SECRET_KEY.test(key) || KEY_KEY.test(key)) return true;
  return TOKEN_KEY.test(key) && typeof value !== 'number';
}

/** `scheme://user:pass@` anywhere in a string: the authority ends at the first `/`, `?`, `#` or blank, a password may hold `@`. */
const URL_CREDENTIALS = /(\/\/)([^\s/?#]*)@/g;
/**
 * A password written with an unencoded '/' (`smtp://relay:pa/ss@host`, which config checks refuse and quote): the user
 * part has no '/' or ':', and the rest runs to the `@`. Not `host:port/path@…`, whose part after the colon is a port.
 */
const SLASHED_PASSWORD = /(\/\/)([^\s/?#:@]*):(?!\d*[/?#])([^\s@]*)@/g;

/**
 * Removes the password of every URL in `url` (a smarthost or Redis URL, or a message quoting one): `user:pass@`
 * keeps its user, and userinfo without a colon is masked whole, since a password written there
 * (`redis://S3cret@host`, for `redis://:S3cret@host`) is an easy mistake and the name alone cannot tell.
 */
export function redactUrl(url: string): string {
  return url
    .replace(URL_CREDENTIALS, (m: string, slashes: string, cred: string) => {
      if (!cred) return m;
      return cred.includes(':') ? `${slashes}${cred.slice(0, cred.indexOf(':'))}:***@` : `${slashes}***@`;
    })
    .replace(SLASHED_PASSWORD, (_m: string, slashes: string, user: string) => `${slashes}${user}:***@`);
}

/**
 * How far the masking walks a line's fields. A field nested deeper than MAX_DEPTH objects, or met after MAX_NODES
 * objects and array items of the line were walked, is written as a placeholder instead of unmasked: JSON.stringify
 * would otherwise write what the walk never looked at. A line carries a few small objects; a line that meets these
 * bounds was given a whole object graph by mistake (a Haraka plugin's `server`), which no reader wants in full.
 */
const MAX_DEPTH = 8;
const MAX_NODES = 2000;
const TOO_DEEP = '[too deep to log]';
const TOO_MANY = '[too much to log]';
const CIRCULAR = '[circular]';

/** The walk of one line: objects visited, and the objects on the path from the top (a loop is cut, not followed). */
interface Walk { nodes: number; path: Set<object> }

/** A list of strings, numbers and the like: no object in it to walk into. */
const isPlainList = (value: object): value is unknown[] => Array.isArray(value) && value.every((v) => typeof v !== 'object' || v === null);

/** `value` with secrets masked at any depth: fields named like secrets, and passwords inside URLs. */
function redactValue(value: unknown, depth: number, walk?: Walk): unknown {
  if (typeof value === 'string') return value.includes('://') && value.includes('@') ? redactUrl(value) : value;
  if (typeof value !== 'object' || value === null) return value;
  // Bytes and dates are written as JSON writes them; neither has named fields to mask.
  if (ArrayBuffer.isView(value) || value instanceof Date) return value;
  if (depth > MAX_DEPTH) return TOO_DEEP;
  // A list of plain values (a message's recipients, its symbols), nearly every list logged: nothing to walk into and
  // no loop possible, so no walk is set up for it (a line's cost is in the per-message path).
  if (isPlainList(value)) {
    if (walk && ++walk.nodes > MAX_NODES) return TOO_MANY;
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const r = redactValue(value[i], depth + 1);
      if (r !== value[i]) { out ??= [...value]; out[i] = r; }
    }
    return out ?? value;
  }
  walk ??= { nodes: 0, path: new Set() };
  if (++walk.nodes > MAX_NODES) return TOO_MANY;
  if (walk.path.has(value)) return CIRCULAR;
  walk.path.add(value);
  try {
    if (Array.isArray(value)) {
      let out: unknown[] | undefined;
      value.forEach((v, i) => { const r = redactValue(v, depth + 1, walk); if (r !== v) { out ??= [...value]; out[i] = r; } });
      return out ?? value;
    }
    // Any class, from any realm (a vm context's objects, a client library's options): JSON writes its own enumerable
    // fields, or what its toJSON gives, so that is what is masked.
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      const json: unknown = toJSON.call(value);
      const r = redactValue(json, depth, walk);
      return r === json ? value : r;
    }
    return redactFields(value as LogFields, depth + 1, walk);
  } catch {
    return '[unreadable]'; // a getter or toJSON that throws
  } finally {
    walk.path.delete(value);
  }
}

function redactFields(fields: LogFields, depth: number, walk?: Walk): LogFields {
  let out: LogFields | undefined;
  for (const [k, v] of Object.entries(fields)) {
    // One walk for the whole line, set up at its first object (most lines hold none but plain lists).
    if (!walk && typeof v === 'object' && v !== null && !isPlainList(v)) walk = { nodes: 0, path: new Set() };
    const r = isSecret(k, v) ? '[redacted]' : redactValue(v, depth, walk);
    if (r !== v) { out ??= { ...fields }; out[k] = r; }
  }
  // A class instance is written as a plain object in any case: a copy keeps JSON's view of it.
  return out ?? fields;
}

const redact = (fields: LogFields): LogFields => redactFields(fields, 0);

/**
 * `value` as the logger would write it, secrets masked (within the bounds above): for a caller that turns an object
 * into text itself (the haraka shim, writing what Haraka's logger shows), where the logger's own masking cannot reach.
 */
export function redactSecrets(value: unknown): unknown {
  return redactValue(value, 0);
}

/** C0 and C1 controls, DEL and the Unicode line separators: in text mode they would end a line or drive the terminal. */
const UNSAFE_TEXT = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
/** What JSON.stringify leaves as it is of those: C1 controls (0x9b starts an escape sequence) and the separators. */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u2028\u2029]/g;
/** A field's value with a blank, a quote or an equals sign would read as more than one `key=value`. */
const AMBIGUOUS_VALUE = /[\s"=]/;

const escapeJson = (json: string) => json.replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** The message of a text line: as it is when harmless, else JSON-quoted so a client's HELO cannot forge a line. */
function textMessage(v: string): string {
  return UNSAFE_TEXT.test(v) ? escapeJson(JSON.stringify(v)) : v;
}

/**
 * A field's value on a text line: quoted when it holds a control character or could pass for another field
 * (`reply=550 spam verdict=accept` from a remote server). Other values are JSON, whose strings can still carry
 * the C1 controls and line separators a client put in an address or a subject.
 */
function fieldValue(v: unknown): string {
  if (typeof v !== 'string') return escapeJson(JSON.stringify(v) ?? String(v));
  return v === '' || UNSAFE_TEXT.test(v) || AMBIGUOUS_VALUE.test(v) ? escapeJson(JSON.stringify(v)) : v;
}

function textLine(time: Date, level: LogLevel, msg: string, fields: LogFields): string {
  // A field with no value is left out, as JSON.stringify leaves it out of a JSON line (`user=undefined` said nothing).
  const extra = Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => `${fieldValue(k)}=${fieldValue(v)}`).join(' ');
  return `${time.toISOString()} ${level.toUpperCase().padEnd(5)} ${textMessage(msg)}${extra ? ' ' + extra : ''}\n`;
}

/**
 * Lines written in one turn of the event loop leave in one write: a busy gateway logs several lines per message, and a
 * write per line was a measurable share of its CPU. A killed process loses at most the lines of its last turn.
 */
const unflushed = new Set<BatchedSink>();
let exitHooked = false;

class BatchedSink implements LogSink {
  private readonly sink: LogSink;
  private pending = '';
  private scheduled = false;

  constructor(sink: LogSink) {
    this.sink = sink;
    if (!exitHooked) { exitHooked = true; process.once('exit', () => { for (const b of unflushed) b.flush(); }); }
  }

  write(line: string): void {
    if (!this.pending) unflushed.add(this);
    this.pending += line;
    if (this.pending.length >= 64 * 1024) { this.flush(); return; }
    if (!this.scheduled) { this.scheduled = true; setImmediate(() => this.flush()); }
  }

  flush(): void {
    this.scheduled = false;
    unflushed.delete(this);
    if (!this.pending) return;
    const out = this.pending;
    this.pending = '';
    this.sink.write(out);
  }
}

/** What a logger and all its children share. */
interface LoggerCore {
  min: number;
  sink: LogSink;
  text: boolean;
  /** What `format: auto` means for this sink: text on a terminal, JSON lines otherwise. */
  autoText: boolean;
  /** Lines also handed to listeners (tests and metrics read them). */
  listeners: Array<(rec: LogFields) => void>;
}

export class JsonLogger implements Logger {
  private readonly base: LogFields;
  private readonly core: LoggerCore;

  constructor(opts: { level?: LogLevel; format?: LogFormat; sink?: LogSink; base?: LogFields; listeners?: Array<(rec: LogFields) => void> } = {}, core?: LoggerCore) {
    // Masked once here, not on every line: a child's fields (cid, qid) go with each of its lines.
    this.base = redact(opts.base ?? {});
    if (core) { this.core = core; return; }
    const sink = opts.sink ?? process.stdout;
    const autoText = opts.sink === undefined && process.stdout.isTTY === true;
    this.core = {
      min: LEVELS[opts.level ?? 'info'],
      // Only the process's own output is batched: a sink given by the caller (tests) sees every line at once.
      sink: opts.sink === undefined ? new BatchedSink(sink) : sink,
      text: textFormat(opts.format ?? 'auto', autoText),
      autoText,
      listeners: opts.listeners ?? [],
    };
  }

  /**
   * Changes the level and format of this logger and of every child it made, at once: a reload that sets `log.level`
   * to debug must reach the loggers that plugins, sessions and the relay already hold.
   */
  configure(opts: { level: LogLevel; format: LogFormat }): void {
    this.core.min = LEVELS[opts.level];
    this.core.text = textFormat(opts.format, this.core.autoText);
  }

  onLine(fn: (rec: LogFields) => void): void { this.core.listeners.push(fn); }

  private write(level: LogLevel, msg: string, fields?: LogFields): void {
    const c = this.core;
    if (LEVELS[level] < c.min && c.listeners.length === 0) return;
    const all = fields ? { ...this.base, ...redact(fields) } : this.base;
    msg = redactValue(msg, 0) as string;
    const time = new Date();
    if (c.listeners.length) {
      const rec = { time: time.toISOString(), level, msg, ...all };
      for (const l of c.listeners) l(rec);
    }
    if (LEVELS[level] < c.min) return;
    // JSON.stringify leaves C1 controls and U+2028 as they are: `tail -f` on the log would run a client's escape sequence.
    c.sink.write(c.text ? textLine(time, level, msg, all) : escapeJson(JSON.stringify({ time: time.toISOString(), level, msg, ...all })) + '\n');
  }
  debug(msg: string, fields?: LogFields) { this.write('debug', msg, fields); }
  info(msg: string, fields?: LogFields) { this.write('info', msg, fields); }
  warn(msg: string, fields?: LogFields) { this.write('warn', msg, fields); }
  error(msg: string, fields?: LogFields) { this.write('error', msg, fields); }
  child(fields: LogFields): Logger {
    return new JsonLogger({ base: { ...this.base, ...fields } }, this.core);
  }
}
