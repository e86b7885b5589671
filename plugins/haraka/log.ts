// Haraka's variadic log methods (logdebug … logemerg), forwarded to Mailmoat's logger with Haraka's level filter.
import { inspect } from 'node:util';
import type { Logger, LogFields } from '../../core/index.ts';
import { redactSecrets } from '../../core/log/logger.ts';
import type { Any } from './cjs.ts';

export const LEVELS: Record<string, number> = {
  DATA: 9, PROTOCOL: 8, DEBUG: 7, INFO: 6, NOTICE: 5, WARN: 4, ERROR: 3, CRIT: 2, ALERT: 1, EMERG: 0,
};

export interface LogSink {
  logger: Logger;
  /** Haraka level number; records above it are dropped (log.ini [main] level). */
  level: number;
}

/** Where an object's log methods write; a symbol so that `for…in` over a plugin never sees it. */
export const SINK = Symbol('haraka.logSink');

export function levelNumber(name: unknown, fallback = LEVELS.WARN): number {
  const key = String(name ?? '').toUpperCase().replace(/^LOG/, '');
  return key in LEVELS ? LEVELS[key] : fallback;
}

/**
 * An Error from any realm: plain plugins run in their own vm context, whose errors fail `instanceof Error` here
 * and would otherwise be logged as an object with no enumerable fields, that is without their message.
 */
function isError(a: Any): a is Error {
  return Object.prototype.toString.call(a) === '[object Error]';
}

/** Plain data (an object literal, from any realm): Haraka's JSON logger spreads such an argument into the record. */
function isPlainObject(a: Any): boolean {
  const proto = Object.getPrototypeOf(a);
  return proto === null || Object.getPrototypeOf(proto) === null && proto.constructor?.name === 'Object';
}

/**
 * Another object, as Haraka's logger writes it (util.inspect) but short and with its secrets masked: a plugin that
 * logs a client or a config object must not put a whole object graph, or a password in it, on a log line.
 */
function inspectShort(a: Any): string {
  const text = inspect(redactSecrets(a), { depth: 1, breakLength: Infinity, maxArrayLength: 10, maxStringLength: 200 });
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

/**
 * Turns Haraka's free-form arguments into one line and fields, the way Haraka's logger reads them. The object whose
 * method was called (`self`) gives only its identity, as in Haraka, where a log method is bound to its name: the
 * `server` object or a connection is never written out, only its name or uuid.
 */
export function formatArgs(self: Any, args: Any[]): { text: string; fields: LogFields } {
  const parts: string[] = [];
  const fields: LogFields = {};
  let origin: string | undefined;
  let uuid: string | undefined;
  const identity = (a: Any): boolean => {
    if (a === null || typeof a !== 'object') return false;
    if (a.constructor?.name === 'Connection') uuid = a.transaction ? a.transaction.uuid : a.uuid;
    else if (a.constructor?.name === 'Plugin') origin = a.name;
    else return false;
    return true;
  };
  const look = (a: Any): void => {
    if (a === null || a === undefined) return;
    if (identity(a)) return;
    if (isError(a)) {
      parts.push(a.stack ?? a.message);
    } else if (typeof a === 'object' && a.constructor?.name === 'DSN') {
      parts.push(a.reply);
    } else if (typeof a === 'object' && Object.hasOwn(a, 'name') && typeof a.name === 'string' && Object.keys(a).length === 1) {
      origin = a.name;
    } else if (typeof a === 'object' && isPlainObject(a)) {
      for (const [k, v] of Object.entries(a)) fields[k] = v;
    } else if (typeof a === 'object') {
      if (typeof a.uuid === 'string' && Object.hasOwn(a, 'uuid')) uuid = a.uuid;
      parts.push(inspectShort(a));
    } else {
      parts.push(String(a));
    }
  };
  identity(self);
  for (const a of args) look(a);
  if (origin) fields.haraka_plugin = origin;
  if (uuid) fields.haraka_uuid = uuid;
  return { text: parts.join(' '), fields };
}

function connectionSink(args: Any[]): LogSink | undefined {
  for (const a of args) if (a && typeof a === 'object' && a.constructor?.name === 'Connection' && a[SINK]) return a[SINK];
  return undefined;
}

/** Adds logdata … logemerg to a prototype; each finds its sink on `this[SINK]`. */
export function addLogMethods(proto: Any): void {
  for (const [name, n] of Object.entries(LEVELS)) {
    const method = function (this: Any, ...args: Any[]): void {
      const sink: LogSink | undefined = this?.[SINK];
      if (!sink || n > sink.level) return;
      const { text, fields } = formatArgs(this, args);
      // A plugin's line about a connection goes to that connection's logger, which names its cid and qid.
      const logger = connectionSink(args)?.logger ?? sink.logger;
      if (n >= LEVELS.DEBUG) logger.debug(text, fields);
      else if (n >= LEVELS.NOTICE) logger.info(text, fields);
      else if (n === LEVELS.WARN) logger.warn(text, fields);
      else logger.error(text, fields);
    };
    Object.defineProperty(proto, `log${name.toLowerCase()}`, { value: method, writable: true, configurable: true });
  }
}
