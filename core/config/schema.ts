// A small typed schema language for the config file and plugin options: defaults, path-named errors, and docs from one source.
import { redactUrl } from '../log/logger.ts';
import { formatDuration, parseDuration, parseSize } from './units.ts';

export interface Issue { path: string; message: string }

/** Whether an issue is about the key at `at` or something under it (`plugins[1]`, not `plugins[10]`). */
export function isIssueUnder(issue: Issue, at: string): boolean {
  return issue.path === at || issue.path.startsWith(`${at}.`) || issue.path.startsWith(`${at}[`);
}

export interface Schema<T> {
  readonly kind: string;
  readonly description?: string;
  readonly hasDefault: boolean;
  readonly optional: boolean;
  readonly defaultValue?: T;
  /** Validates raw input (after defaults); pushes issues and returns the converted value. */
  parse(input: unknown, path: string, issues: Issue[]): T;
  /** Human description of what is expected, used in error messages and docs. */
  expected(): string;
  /** The key's one-line description: README tables, `moat config-help`. */
  describe(text: string): Schema<T>;
  /** The value when the key is absent (the default itself is checked as input would be). */
  default(value: T): Schema<T>;
  /** May be absent (undefined); with a default, `null` in the file turns the key off. */
  optionalValue(): Schema<T | undefined>;
  children?(): Record<string, Schema<unknown>>;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

/** The child name standing for any key of a record (`routes.<name>.via` in the docs). */
export const RECORD_KEY = '<name>';

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') {
    // A URL's credentials are not repeated: the message goes to the terminal and, for a refused reload, to the log.
    // The whole value is one URL: everything up to its last '@' may be a password (with a space or '/' written plain).
    const shown = redactUrl(v).replace(/(\/\/)([^@]*):([^@]*)@(?=[^@]*$)/, (m: string, s: string, user: string, pass: string) => (pass === '***' ? m : `${s}${/[\s/]/.test(user) ? '' : user}:***@`));
    return `the string ${JSON.stringify(shown.length > 40 ? shown.slice(0, 40) + '…' : shown)}`;
  }
  return `${typeof v} ${String(v)}`;
}

class Base<T> implements Schema<T> {
  kind: string;
  description?: string;
  hasDefault = false;
  optional = false;
  defaultValue?: T;
  private readonly check: (input: unknown, path: string, issues: Issue[]) => T;
  private readonly what: () => string;
  private readonly kids?: () => Record<string, Schema<unknown>>;

  constructor(kind: string, what: () => string, check: (input: unknown, path: string, issues: Issue[]) => T, kids?: () => Record<string, Schema<unknown>>) {
    this.kind = kind;
    this.what = what;
    this.check = check;
    this.kids = kids;
    if (kids) this.children = kids;
  }
  children?: () => Record<string, Schema<unknown>>;

  private clone(): Base<T> {
    const c = new Base<T>(this.kind, this.what, this.check, this.kids);
    c.description = this.description;
    c.hasDefault = this.hasDefault;
    c.optional = this.optional;
    c.defaultValue = this.defaultValue;
    return c;
  }
  describe(text: string): Schema<T> { const c = this.clone(); c.description = text; return c; }
  default(value: T): Schema<T> { const c = this.clone(); c.hasDefault = true; c.defaultValue = value; return c; }
  optionalValue(): Schema<T | undefined> { const c = this.clone() as unknown as Base<T | undefined>; c.optional = true; return c; }
  expected(): string { return this.what(); }
  parse(input: unknown, path: string, issues: Issue[]): T {
    // An explicit null turns off an optional setting that has a default (e.g. `scores.reject: null`).
    if (input === null && this.optional) return undefined as T;
    if (input === undefined || input === null) {
      if (this.hasDefault) return this.check(structuredClone(this.defaultValue), path, issues);
      if (this.optional) return undefined as T;
      issues.push({ path, message: `is required: expected ${this.what()}` });
      return undefined as T;
    }
    return this.check(input, path, issues);
  }
}

/** Edits (insert, delete, replace, swap of neighbours) turning `a` into `b`. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The known key a typo most likely meant (`max_mesage_size`, `Listen`), if one is close enough to be a guess worth making. */
export function nearestKey(typo: string, known: string[]): string | undefined {
  const t = typo.toLowerCase().replace(/-/g, '_');
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const dist = editDistance(t, k);
    if (dist < bestDistance) { best = k; bestDistance = dist; }
  }
  return bestDistance <= Math.max(1, Math.floor(t.length / 4)) ? best : undefined;
}

function fail<T>(issues: Issue[], path: string, expected: string, got: unknown): T {
  issues.push({ path, message: `expected ${expected}, got ${typeName(got)}` });
  return undefined as T;
}

/** `inner`, with `check` run on what it read: for rules across keys, which the schema language checks one at a time. */
function checked<T>(inner: Schema<T>, check: (value: T, path: string, issues: Issue[]) => void): Schema<T> {
  return {
    kind: inner.kind,
    description: inner.description,
    hasDefault: inner.hasDefault,
    optional: inner.optional,
    defaultValue: inner.defaultValue,
    parse(input, path, issues) {
      const value = inner.parse(input, path, issues);
      if (value !== undefined) check(value, path, issues);
      return value;
    },
    expected: () => inner.expected(),
    describe: (text) => checked(inner.describe(text), check),
    default: (value) => checked(inner.default(value), check),
    optionalValue: () => checked(inner.optionalValue(), (v, p, is) => { if (v !== undefined) check(v, p, is); }),
    ...(inner.children ? { children: () => inner.children!() } : {}),
  };
}

/**
 * The longest timeout a config may set: 24 days, within what a Node timer takes (2^31 − 1 ms, about 24.8 days; a
 * longer one fires at once, as a timeout of 0 would), and a round figure to read in an error.
 */
export const TIMER_MAX_MS = 24 * 86_400_000;

export const s = {
  /** A schema whose value `check` also judges as a whole, pushing issues named by key path (`${path}.key`). */
  checked,
  /** A string (a number is taken as its digits); `patternName` is what an error says was expected instead of the regex. */
  string(opts: { pattern?: RegExp; patternName?: string; minLength?: number } = {}): Schema<string> {
    const what = () => opts.patternName ?? 'a string';
    return new Base('string', what, (v, p, is) => {
      if (typeof v === 'number') v = String(v);
      if (typeof v !== 'string') return fail(is, p, what(), v);
      if (opts.minLength !== undefined && v.length < opts.minLength) return fail(is, p, `${what()} of at least ${opts.minLength} characters`, v);
      if (opts.pattern && !opts.pattern.test(v)) return fail(is, p, what(), v);
      return v;
    });
  },
  /** A finite number, or a string holding one; `integer` asks for a whole number, `min` and `max` are inclusive. */
  number(opts: { min?: number; max?: number; integer?: boolean } = {}): Schema<number> {
    const what = () => `${opts.integer ? 'a whole number' : 'a number'}${opts.min !== undefined ? ` ≥ ${opts.min}` : ''}${opts.max !== undefined ? ` ≤ ${opts.max}` : ''}`;
    return new Base('number', what, (v, p, is) => {
      const n = typeof v === 'string' && v.trim() !== '' && !isNaN(Number(v)) ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isFinite(n)) return fail(is, p, what(), v);
      if ((opts.integer && !Number.isInteger(n)) || (opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max)) return fail(is, p, what(), v);
      return n;
    });
  },
  /** `true` or `false`; the strings `yes`/`no`, `on`/`off` and `true`/`false` too. */
  boolean(): Schema<boolean> {
    return new Base('boolean', () => 'true or false', (v, p, is) => {
      if (v === 'true' || v === 'yes' || v === 'on') return true;
      if (v === 'false' || v === 'no' || v === 'off') return false;
      if (typeof v !== 'boolean') return fail(is, p, 'true or false', v);
      return v;
    });
  },
  /** One of `values` (`s.enum(['reject', 'score'] as const)` types the value as their union). */
  enum<const E extends string>(values: readonly E[]): Schema<E> {
    const what = () => `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`;
    return new Base('enum', what, (v, p, is) => (typeof v === 'string' && (values as readonly string[]).includes(v) ? (v as E) : fail(is, p, what(), v)));
  },
  /** A duration such as `500ms`, `30s`, `5m`, `2h`, `4d`; a bare number is milliseconds. Yields milliseconds. */
  duration(opts: { min?: number; max?: number } = {}): Schema<number> {
    const what = () => `a duration such as 500ms, 30s, 5m, 2h or 4d${opts.min !== undefined ? `, at least ${formatDuration(opts.min)}` : ''}${opts.max !== undefined ? `, at most ${formatDuration(opts.max)}` : ''}`;
    return new Base('duration', what, (v, p, is) => {
      const ms = parseDuration(v);
      if (ms === undefined || (opts.min !== undefined && ms < opts.min) || (opts.max !== undefined && ms > opts.max)) return fail(is, p, what(), v);
      return ms;
    });
  },
  /** A size in bytes or with a unit (`10MB`, `512KB`), within `min`–`max` bytes when given. Yields bytes. */
  size(opts: { min?: number; max?: number } = {}): Schema<number> {
    const what = () => `a size in bytes or with a unit such as 512KB or 10MB${opts.min !== undefined ? `, at least ${opts.min} bytes` : ''}${opts.max !== undefined ? `, at most ${opts.max} bytes` : ''}`;
    return new Base('size', what, (v, p, is) => {
      const n = parseSize(v);
      if (n === undefined || (opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max)) return fail(is, p, what(), v);
      return n;
    });
  },
  /** A list of `item`; a single string stands for a list of one, so `zones: bl.example` reads as `[bl.example]`. */
  array<T>(item: Schema<T>): Schema<T[]> {
    const what = () => `a list of ${item.expected()}`;
    return new Base('array', what, (v, p, is) => {
      if (typeof v === 'string' && item.kind !== 'array') v = [v];
      if (!Array.isArray(v)) return fail(is, p, what(), v);
      return v.map((x, i) => item.parse(x, `${p}[${i}]`, is));
    }, () => ({ '[]': item as Schema<unknown> }));
  },
  /** A mapping of any names to `value` (documented as `key.<name>`). */
  record<T>(value: Schema<T>): Schema<Record<string, T>> {
    const what = () => `a mapping of names to ${value.expected()}`;
    return new Base('record', what, (v, p, is) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(is, p, what(), v);
      const out: Record<string, T> = {};
      for (const [k, x] of Object.entries(v)) out[k] = value.parse(x, p ? `${p}.${k}` : k, is);
      return out;
    }, () => ({ [RECORD_KEY]: value as Schema<unknown> }));
  },
  /** A mapping with known keys; unknown keys are an error unless `open` is set (plugin entries carry extra keys). */
  object<Shape extends Record<string, Schema<any>>>(shape: Shape, opts: { open?: boolean } = {}): Schema<{ [K in keyof Shape]: Infer<Shape[K]> }> {
    type Out = { [K in keyof Shape]: Infer<Shape[K]> };
    const what = () => 'a mapping';
    return new Base<Out>('object', what, (v, p, is) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(is, p, `a mapping with keys ${Object.keys(shape).join(', ')}`, v);
      const input = v as Record<string, unknown>;
      const out: Record<string, unknown> = opts.open ? { ...input } : {};
      for (const [k, sch] of Object.entries(shape)) out[k] = sch.parse(input[k], p ? `${p}.${k}` : k, is);
      if (!opts.open) {
        for (const k of Object.keys(input)) {
          if (k in shape) continue;
          const near = nearestKey(k, Object.keys(shape));
          is.push({ path: p ? `${p}.${k}` : k, message: `is not a known key${near ? `; did you mean ${near}?` : ''} (known: ${Object.keys(shape).join(', ')})` });
        }
      }
      return out as Out;
    }, () => shape as Record<string, Schema<unknown>>);
  },
  /** What `a` takes, else what `b` takes; an error names the branch that came closest. */
  union<A, B>(a: Schema<A>, b: Schema<B>): Schema<A | B> {
    const what = () => `${a.expected()} or ${b.expected()}`;
    return new Base<A | B>('union', what, (v, p, is) => {
      const ia: Issue[] = [];
      const ra = a.parse(v, p, ia);
      if (ia.length === 0) return ra;
      const ib: Issue[] = [];
      const rb = b.parse(v, p, ib);
      if (ib.length === 0) return rb;
      // A branch that took the value's shape but faulted a key inside it (a typo in a mapping) says exactly what is wrong.
      const nested = (list: Issue[]) => list.every((i) => i.path !== p);
      if (nested(ib)) { is.push(...ib); return undefined as A | B; }
      if (nested(ia)) { is.push(...ia); return undefined as A | B; }
      // A branch of the value's type that refused it for a reason of its own (a URL it cannot read) says more than
      // the other branch's "expected a mapping".
      const ownReason = (list: Issue[]) => list.some((i) => !i.message.startsWith('expected '));
      if (ownReason(ia) && !ownReason(ib)) { is.push(...ia); return undefined as A | B; }
      if (ownReason(ib) && !ownReason(ia)) { is.push(...ib); return undefined as A | B; }
      return fail(is, p, what(), v);
    }, () => ({ ...a.children?.(), ...b.children?.() }));
  },
  /** Anything; for values checked elsewhere. */
  any(): Schema<unknown> {
    return new Base('any', () => 'any value', (v) => v);
  },
};

/** Validates `input` against `schema`; throws ConfigError listing every issue. */
export function validate<T>(schema: Schema<T>, input: unknown, rootPath = ''): { value: T; issues: Issue[] } {
  const issues: Issue[] = [];
  const value = schema.parse(input, rootPath, issues);
  return { value, issues };
}

function formatSize(n: number): string {
  for (const [u, f] of [['GB', 1024 ** 3], ['MB', 1024 ** 2], ['KB', 1024]] as const) if (n >= f && n % f === 0) return `${n / f}${u}`;
  return String(n);
}

/** A default as the config file would write it: durations as `5m`, sizes as `10MB`. */
function formatDefault(sch: Schema<unknown>): string {
  const v = sch.defaultValue;
  const item = sch.children?.()['[]'];
  if (sch.kind === 'duration' && typeof v === 'number') return formatDuration(v);
  if (sch.kind === 'size' && typeof v === 'number') return formatSize(v);
  if (sch.kind === 'array' && item?.kind === 'duration' && Array.isArray(v)) return `[${v.map((x) => formatDuration(x as number)).join(', ')}]`;
  return JSON.stringify(v);
}

/** Lines documenting every key of an object schema with its default, for READMEs and `moat config-help`. */
export function documentSchema(schema: Schema<unknown>, prefix = ''): string[] {
  const lines: string[] = [];
  const kids = schema.children?.();
  if (!kids) return lines;
  for (const [k, child] of Object.entries(kids)) {
    const path = k === '[]' ? `${prefix}[]` : prefix ? `${prefix}.${k}` : k;
    const def = child.hasDefault ? formatDefault(child) : child.optional ? '(unset)' : '(required)';
    if (child.kind !== 'object') lines.push(`| \`${path}\` | ${child.expected()} | \`${def}\` | ${child.description ?? ''} |`);
    lines.push(...documentSchema(child, path));
  }
  return lines;
}
