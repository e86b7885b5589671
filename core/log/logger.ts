// JSON-lines logger (readable text on a terminal); fields named like secrets are masked before writing.
import type { Logger, LogFields, LogLevel } from './types.ts';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_KEY = /pass(word)?|secret|token|authorization|credential/i;

export interface LogSink { write(line: string): void }

function redact(fields: LogFields): LogFields {
  let out: LogFields | undefined;
  for (const k of Object.keys(fields)) {
    if (SECRET_KEY.test(k)) { out ??= { ...fields }; out[k] = '[redacted]'; }
  }
  return out ?? fields;
}

/** Removes `user:pass@` from URLs so a smarthost URL can be logged. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^/@]*)@/, (_m, cred: string) => `//${cred.split(':')[0]}:***@`);
}

function textLine(time: Date, level: LogLevel, msg: string, fields: LogFields): string {
  const extra = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
  return `${time.toISOString()} ${level.toUpperCase().padEnd(5)} ${msg}${extra ? ' ' + extra : ''}\n`;
}

export class JsonLogger implements Logger {
  private readonly base: LogFields;
  private readonly min: number;
  private readonly sink: LogSink;
  private readonly text: boolean;
  /** Lines also handed to listeners (tests and metrics read them). */
  private readonly listeners: Array<(rec: LogFields) => void>;

  constructor(opts: { level?: LogLevel; format?: 'auto' | 'json' | 'text'; sink?: LogSink; base?: LogFields; listeners?: Array<(rec: LogFields) => void> } = {}) {
    this.base = opts.base ?? {};
    this.min = LEVELS[opts.level ?? 'info'];
    this.sink = opts.sink ?? process.stdout;
    const fmt = opts.format ?? 'auto';
    this.text = fmt === 'text' || (fmt === 'auto' && opts.sink === undefined && process.stdout.isTTY === true);
    this.listeners = opts.listeners ?? [];
  }

  onLine(fn: (rec: LogFields) => void): void { this.listeners.push(fn); }

  private write(level: LogLevel, msg: string, fields?: LogFields): void {
    if (LEVELS[level] < this.min && this.listeners.length === 0) return;
    const all = redact(fields ? { ...this.base, ...fields } : this.base);
    const time = new Date();
    if (this.listeners.length) {
      const rec = { time: time.toISOString(), level, msg, ...all };
      for (const l of this.listeners) l(rec);
    }
    if (LEVELS[level] < this.min) return;
    this.sink.write(this.text ? textLine(time, level, msg, all) : JSON.stringify({ time: time.toISOString(), level, msg, ...all }) + '\n');
  }
  debug(msg: string, fields?: LogFields) { this.write('debug', msg, fields); }
  info(msg: string, fields?: LogFields) { this.write('info', msg, fields); }
  warn(msg: string, fields?: LogFields) { this.write('warn', msg, fields); }
  error(msg: string, fields?: LogFields) { this.write('error', msg, fields); }
  child(fields: LogFields): Logger {
    const c = Object.create(this) as JsonLogger;
    (c as unknown as { base: LogFields }).base = { ...this.base, ...fields };
    return c;
  }
}
