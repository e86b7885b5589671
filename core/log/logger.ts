// JSON-lines logger (readable text on a terminal); fields named like secrets are masked before writing.
import type { Logger, LogFields, LogLevel } from './types.ts';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
/**
 * `pass`, `smtp_pass`, `dbpass`, `password`, `passwd`, `passphrase`, but not `passes` or `passed` (a count of greylist
 * passes) nor `bypass` (a word of its own).
 */
const SECRET_KEY = /(?<!by)pass(?:word|wd|phrase)?(?![a-z])|secret|authorization|credential/i;
/**
 * The metrics' counts by symbol (`findings_SPF_PASS`, and `SPF_PASS` under `refusal_findings`): a symbol names a
 * check's result, never a secret, and its value is a count.
 */
const FINDINGS_COUNTER = /^(?:findings_)?(?!.*(?:^|_)(?:KEY|PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN)(?:_|$))[A-Z][A-Z0-9_]*$/;
/** `key`, `api_key`, `apiKey`, `private-key`: a name whose last word is "key" (not `keys`, `keyword`, `monkey`). */
const KEY_KEY = /(?:^|[_.-])(?:key|Key|KEY)$|[a-z0-9]Key$/;
/** Auth and API tokens are secrets, but `tokens` is also the count of a message's or a dictionary's words. */
const TOKEN_KEY = /token/i;

export interface LogSink { write(line: string): void }
export type LogFormat = 'auto' | 'json' | 'text';

const textFormat = (format: LogFormat, autoText: boolean): boolean => format === 'text' || (format === 'auto' && autoText);

/**
 * Whether a field must be masked: any value but true/false under a secret's name (a password or key may be written as
 * a number in YAML; true or false tells nothing), and anything but a number under a token's.
 */
function isSecret(key: string, value: unknown): boolean {
  if (typeof value === 'boolean') return false;
  // The findings counter is asked about only for a name that looks secret: every field of every line passes here.
  if (SECRET_KEY.test(key) || KEY_KEY.test(key)) return !(typeof value === 'number' && FINDINGS_COUNTER.test(key));
  return TOKEN_KEY.test(key) && typeof value !== 'number';
}

/**
 * A password written with an unencoded '/' (`smtp://relay:pa/ss@host`, which config checks refuse and quote): the user
 * part has no '/' or ':', and the rest runs to the `@`. Not `host:port/path@…`, whose part after the colon is a port.
 */
const SLASHED_PASSWORD = /(\/\/)([^\s/?#:@]*):(?!\d*[/?#])([^\s@]*)@/g;
/** A host and port as a URL names them, at the start of the text after a userinfo's `@`. */
const HOST = String.raw`(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?`;
/** What a URL's host is followed by in prose: its end, a path, a blank, or punctuation after it (`…:6380: refused`). */
const HOST_AFTER_AT = new RegExp(String.raw`^${HOST}(?=$|[\s/?#),;'"<>\]]|:(?!\d)|\.(?:\s|$))`);
/** A word that is a whole authority by itself (`127.0.0.1:6379`, `relay.example:25,`): the URL ended at the blank after it. */
const WHOLE_AUTHORITY = new RegExp(String.raw`^${HOST}[.,;:)]*$`);
/** A word that could be a host without a domain or port (`localhost`), or a user name. */
const BARE_LABEL = /^[A-Za-z0-9_-]+$/;
const SCHEME_START = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/** Index of the first of `chars` in `text` from `from`, or the text's length. */
function firstOf(text: string, chars: RegExp, from: number): number {
  chars.lastIndex = from;
  const m = chars.exec(text);
  return m ? m.index : text.length;
}
const AUTHORITY_END = /[\s/?#]/g;
const PATH_START = /[/?#]/g;

/**
 * Where the userinfo of the URL whose authority starts at `start` ends (the index of its `@`), or -1 when it has none.
 * A URL parser takes everything up to the last `@` before the first `/`, `?` or `#` as userinfo, blanks included
 * (`redis://:Secret 99@host` is the password `Secret 99`). In prose a blank usually ends the URL, so a userinfo runs
 * past one only when the word before the blank cannot be a whole authority (`:Secret`, `user:Secret`, not
 * `127.0.0.1:6379`), and only to an `@` followed by a host, so an address later in the line is left alone.
 * `whole`: the text is one URL by a URL parser's reading (a config value), whose first word may then be a user name.
 */
function userinfoEnd(text: string, start: number, whole: boolean): number {
  const wordEnd = firstOf(text, AUTHORITY_END, start);
  const inWord = text.lastIndexOf('@', wordEnd - 1);
  if (inWord >= start) return inWord;
  if (wordEnd === text.length || !/\s/.test(text[wordEnd])) return -1;
  const word = text.slice(start, wordEnd);
  // The URL itself, as a config value is logged, may have a user name where it ends (`redis://Secret 99@host`); a word
  // with a dot, a port or punctuation after it is still read as a whole authority.
  const spaced = word !== '' && (!WHOLE_AUTHORITY.test(word) || (whole && BARE_LABEL.test(word)));
  if (!spaced) return -1;
  const limit = firstOf(text, PATH_START, wordEnd);
  for (let at = text.lastIndexOf('@', limit - 1); at > wordEnd; at = text.lastIndexOf('@', at - 1)) {
    if (HOST_AFTER_AT.test(text.slice(at + 1, limit))) return at;
  }
  return -1;
}

/** A userinfo as logged: its user kept when it has one (without blanks), the rest `***`. */
function maskedUserinfo(cred: string): string {
  const colon = cred.indexOf(':');
  if (colon < 0) return '***';
  const user = cred.slice(0, colon);
  return `${/\s/.test(user) ? '' : user}:***`;
}

/** Whether `text` is one URL with a userinfo as a URL parser reads it (a config value logged as it is). */
function isWholeUrlWithUserinfo(text: string): boolean {
  if (!SCHEME_START.test(text)) return false;
  try {
    const u = new URL(text);
    return u.username !== '' || u.password !== '';
  } catch {
    return false;
  }
}

/**
 * Removes the password of every URL in `url` (a smarthost or Redis URL, or a message quoting one): `user:pass@`
 * keeps its user, and userinfo without a colon is masked whole, since a password written there
 * (`redis://S3cret@host`, for `redis://:S3cret@host`) is an easy mistake and the name alone cannot tell. A password
 * may hold any character a URL parser takes there, `@` and blanks included (`userinfoEnd`).
 */
export function redactUrl(url: string): string {
  const whole = /\s/.test(url) && isWholeUrlWithUserinfo(url);
  let out = '';
  let from = 0;
  for (let slashes = url.indexOf('//'); slashes >= 0; slashes = url.indexOf('//', Math.max(slashes + 2, from))) {
    const start = slashes + 2;
    const at = userinfoEnd(url, start, whole && slashes === url.indexOf('//'));
    if (at <= start) continue;
    out += url.slice(from, start) + maskedUserinfo(url.slice(start, at)) + '@';
    from = at + 1;
  }
  out += url.slice(from);
  return out.replace(SLASHED_PASSWORD, (_m: string, slashes: string, user: string) => `${slashes}${user}:***@`);
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

/**
 * C0 and C1 controls, DEL, the Unicode line separators and the bidi controls: in text mode they would end a line or
 * drive the terminal, and a right-to-left override in an address (`admin\u202Emoc.knab@…`) shows it reversed.
 */
const UNSAFE_TEXT = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;
/** What JSON.stringify leaves as it is of those: C1 controls (0x9b starts an escape sequence), separators, bidi controls. */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
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
 * write per line was a measurable share of its CPU. A process killed by a signal it does not handle loses the lines of
 * its last turn; one that exits writes them first.
 */
const unflushed = new Set<BatchedSink>();
let exitHooked = false;
/** Set when the process exits: no turn follows to write a batch, so a line logged then (a later 'exit' listener) goes at once. */
let exiting = false;

/**
 * Writes every line still waiting for the end of its turn, now: before an exit, and before a line that must come after
 * them (a failed start's `start failed`, written to stdout by itself).
 */
export function flushLogs(): void {
  for (const b of [...unflushed]) b.flush();
}

class BatchedSink implements LogSink {
  private readonly sink: LogSink;
  private pending = '';
  private scheduled = false;

  constructor(sink: LogSink) {
    this.sink = sink;
    if (!exitHooked) { exitHooked = true; process.once('exit', () => { exiting = true; flushLogs(); }); }
  }

  write(line: string): void {
    if (!this.pending) unflushed.add(this);
    this.pending += line;
    if (exiting || this.pending.length >= 64 * 1024) { this.flush(); return; }
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

/** Lines whose write to stdout failed, kept (up to this much) until the log moves to stderr, which then writes them. */
const UNSENT_MAX = 256 * 1024;

/**
 * The process's own log output: standard output, or standard error once stdout's reader went away and the `moat start`
 * CLI chose to go on (a log reader such as svlogd or rotatelogs restarting must not take the MX down with it). The
 * batch whose write found the reader gone carried lines nobody read: they are kept and written to stderr at the move.
 */
class ProcessOutput implements LogSink {
  private stream: NodeJS.WriteStream = process.stdout;
  private unsent = '';

  get current(): NodeJS.WriteStream { return this.stream; }

  write(lines: string): void {
    const to = this.stream;
    if (to !== process.stdout) { to.write(lines); return; }
    to.write(lines, (e) => {
      if (!e) return;
      // The failure may be reported after the move as well as before it.
      if (this.stream !== process.stdout) this.stream.write(lines);
      else if (this.unsent.length + lines.length <= UNSENT_MAX) this.unsent += lines;
    });
  }

  moveToStderr(): void {
    if (this.stream === process.stderr) return;
    this.stream = process.stderr;
    const lines = this.unsent;
    this.unsent = '';
    if (lines) this.stream.write(lines);
  }
}

const processOutput = new ProcessOutput();

/**
 * From now on the process's log goes to standard error, beginning with the lines stdout failed to take; lines still
 * waiting for the end of their turn follow them there.
 */
export function moveLogToStderr(): void {
  processOutput.moveToStderr();
}

/** The stream the process's log goes to now, for an exit that waits until it has taken the last lines. */
export function logStream(): NodeJS.WriteStream {
  return processOutput.current;
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
    const autoText = opts.sink === undefined && process.stdout.isTTY === true;
    this.core = {
      min: LEVELS[opts.level ?? 'info'],
      // Only the process's own output is batched: a sink given by the caller (tests) sees every line at once.
      sink: opts.sink ?? new BatchedSink(processOutput),
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
