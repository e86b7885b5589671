// Criteria: a rule's `when`, compiled once into a tree of tests. A test answers true, false, or undefined when it
// depends on a regex the regex thread did not finish in time; all/any/not carry that third answer through, and a
// rule whose answer is undefined is skipped rather than guessed.
import { CidrList, FIELD_NAME, parseSize, type Issue } from '../../core/index.ts';
import { globMatch } from './glob.ts';
import { domainForm, domainIn, entryForm, KIND_TEXT, listHas, mailboxForm, type ListKind, type RuleList } from './lists.ts';
import { inTimeRange, parseTimeRange, parseWeekdays, wallClock } from './clock.ts';
import { isOutbound } from './outbound.ts';
import { cappedTotal } from '../../core/verdict/plugin-caps.ts';
import { matchForm, regexMatchForm } from './text-fold.ts';
import type { AttachmentFacts, Facts } from './facts.ts';
import type { RegexSource } from './regex-worker.ts';
import type { RegexResults } from './regex-thread.ts';

export type Answer = boolean | undefined;

/**
 * `regexEach`: for a regex answered per input (a `to: { regex }`, per recipient), the inputs it matched. Without it
 * such a regex counts as its answer for the message as a whole (`regex`), as a unit test may give it.
 */
export interface EvalEnv {
  facts: Facts; regex: RegexResults; regexEach?: ReadonlyMap<number, ReadonlySet<string>>; lists: ReadonlyMap<string, RuleList>; timeZone?: string;
}

export type Criterion = (env: EvalEnv) => Answer;

/** What compiling learns beyond the tree: the regexes to send to the thread, with what each is tried on. */
export interface CompileState {
  issues: Issue[];
  /** Names declared under `lists:`, lower-cased. */
  listNames: ReadonlySet<string>;
  /** Each list named by a criterion: the kind it is read as, and the first key path that named it. */
  listKinds: Map<string, { kind: ListKind; path: string }>;
  /** `each`: answered for every input apart (RegexJob), so that a criterion can ask of some inputs only. */
  regexes: Array<RegexSource & { inputs: (f: Facts) => string[]; each?: boolean }>;
  needsParsed: boolean;
  /** recipient_delimiter: characters that start an address tag, taken off before address, domain, glob and list tests. */
  delimiter: string;
  /** Set when the rule being compiled has a `to` criterion. */
  usesTo: boolean;
  /** The criteria that read the findings so far, which the start checks against what the chain records. */
  reads: FindingRead[];
  /**
   * The rule's `attachment` criteria as tests of one attachment, those not under a `not`: what a
   * `remove_attachments` of the rule removes (an attachment a negated criterion names is one the rule wants absent).
   */
  attachmentTests: AttachmentTest[];
  /** How many `not` the criterion being compiled is inside. */
  negated: number;
}

/** One `attachment` criterion asked of one attachment (or one file in a ZIP attachment). */
export type AttachmentTest = (a: AttachmentFacts) => boolean;

/** A `symbol` criterion (its globs) or a `score` one (no globs), by key path. */
export interface FindingRead { path: string; globs?: string[] }

export const CRITERIA = [
  'all', 'any', 'not', 'from', 'to', 'outbound', 'client_ip', 'authenticated', 'relay_network', 'header', 'subject', 'body',
  'attachment', 'size', 'score', 'symbol', 'time', 'weekday', 'mime_depth', 'mime_incomplete',
] as const;

export const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : [v]);

function all(nodes: Criterion[]): Criterion {
  return (env) => {
    let unknown = false;
    for (const n of nodes) { const a = n(env); if (a === false) return false; if (a === undefined) unknown = true; }
    return unknown ? undefined : true;
  };
}

function any(nodes: Criterion[]): Criterion {
  return (env) => {
    let unknown = false;
    for (const n of nodes) { const a = n(env); if (a === true) return true; if (a === undefined) unknown = true; }
    return unknown ? undefined : false;
  };
}

const never: Criterion = () => false;

/**
 * A regex test of `inputs`. `folded`: the inputs are message text in match form (text-fold.ts), and the regex is put
 * in that form too; an address regex (`from`, `to`) sees the address as sent.
 */
function regexNode(st: CompileState, written: unknown, caseSensitive: boolean, path: string, inputs: (f: Facts) => string[], opts: { each?: boolean; folded?: boolean } = {}): Criterion {
  if (typeof written !== 'string' || written === '') { st.issues.push({ path, message: 'expected a regular expression (a non-empty string)' }); return never; }
  const { each = false, folded = false } = opts;
  const flags = caseSensitive ? '' : 'i';
  const source = folded ? regexMatchForm(written) : written;
  try { new RegExp(written, flags); new RegExp(source, flags); } catch (e) {
    const as = source === written ? '' : ` (as compared with text in match form: ${JSON.stringify(source)})`;
    st.issues.push({ path, message: `is not a valid regular expression${as}: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}` });
    return never;
  }
  const id = st.regexes.length + 1;
  if (!each) {
    st.regexes.push({ id, source, flags, inputs });
    return (env) => env.regex.get(id);
  }
  st.regexes.push({ id, source, flags, inputs, each });
  // Asked of the inputs as they are when the rule runs: the recipients an earlier rule dropped are no longer there.
  return (env) => {
    const whole = env.regex.get(id);
    const hits = env.regexEach?.get(id);
    return whole === undefined || !hits ? whole : inputs(env.facts).some((s) => hits.has(s));
  };
}

/** The message texts `read` gives, in match form: folded once per message however many rules ask (Facts.textForm). */
const inMatchForm = (read: (f: Facts) => string[]) => (f: Facts) => read(f).map(f.textForm ?? matchForm);

/**
 * A text matcher: a string is a regex (case ignored), or `{ regex, case_sensitive }`, or `{ contains }`. Both sides
 * are compared in match form (text-fold.ts).
 */
function textNode(st: CompileState, raw: unknown, path: string, texts: (f: Facts) => string[]): Criterion {
  const inputs = inMatchForm(texts);
  if (typeof raw === 'string') return regexNode(st, raw, false, path, inputs, { folded: true });
  if (!isMapping(raw)) { st.issues.push({ path, message: `expected a regular expression, or a mapping with regex or contains; got ${described(raw)}` }); return never; }
  if ('list' in raw) { st.issues.push({ path: `${path}.list`, message: NO_TEXT_LIST }); return never; }
  const keys = Object.keys(raw);
  const unknown = keys.filter((k) => !['regex', 'contains', 'case_sensitive'].includes(k));
  if (unknown.length) st.issues.push({ path: `${path}.${unknown[0]}`, message: 'is not a known key (known: regex, contains, case_sensitive)' });
  const cs = raw.case_sensitive === true;
  if ('regex' in raw && 'contains' in raw) st.issues.push({ path, message: 'give regex or contains, not both' });
  if ('regex' in raw) return regexNode(st, raw.regex, cs, `${path}.regex`, inputs, { folded: true });
  if (typeof raw.contains === 'string' && raw.contains !== '') {
    const needle = cs ? matchForm(raw.contains) : matchForm(raw.contains).toLowerCase();
    return (env) => inputs(env.facts).some((s) => (cs ? s : s.toLowerCase()).includes(needle));
  }
  st.issues.push({ path, message: 'needs regex or contains (a non-empty string)' });
  return never;
}

/**
 * An address matcher for `from` and `to`: a glob string (`*@example.org`; `<>` is the null sender), or a mapping with
 * one of address, domain (`.example.org` with subdomains), glob, regex, list; or a list of those (any).
 */
function addressNode(st: CompileState, raw: unknown, path: string, addresses: (f: Facts) => string[], perAddress = false): Criterion {
  if (Array.isArray(raw)) {
    if (raw.length === 0) st.issues.push({ path, message: 'is an empty list' });
    return any(raw.map((r, i) => addressNode(st, r, `${path}[${i}]`, addresses, perAddress)));
  }
  // Compared in one form on both sides: lower case, the domain in A-label form, the tag taken off (recipient_delimiter).
  const some = (test: (a: string) => boolean): Criterion => (env) => addresses(env.facts).some((a) => test(mailboxForm(a, st.delimiter)));
  if (typeof raw === 'string') {
    if (raw === '<>') return some((a) => a === '');
    const glob = globForm(raw);
    return some((a) => globMatch(glob, a));
  }
  if (!isMapping(raw) || Object.keys(raw).length !== 1) {
    st.issues.push({ path, message: 'expected a glob such as *@example.org, or a mapping with one of address, domain, glob, regex, list' });
    return never;
  }
  const [key, value] = Object.entries(raw)[0];
  const strings = asList(value);
  if (key !== 'regex' && (strings.length === 0 || strings.some((x) => typeof x !== 'string' || x === ''))) {
    st.issues.push({ path: `${path}.${key}`, message: 'expected a non-empty string or a list of them' });
    return never;
  }
  const lower = (strings as string[]).map((x) => x.toLowerCase());
  switch (key) {
    case 'address': {
      const wanted = lower.map(entryForm);
      for (const [i, a] of wanted.entries()) {
        const tag = tagAt(a, st.delimiter);
        if (tag >= 0) st.issues.push({ path: `${path}.address`, message: `${strings[i]} carries an address tag, which is taken off every address before it is compared (recipient_delimiter ${JSON.stringify(st.delimiter)}): write ${a.slice(0, tag)}${a.slice(a.lastIndexOf('@'))}, or set recipient_delimiter: ""` });
      }
      return some((a) => wanted.includes(a));
    }
    case 'domain': {
      const wanted = lower.map(domainForm);
      return some((a) => { const at = a.lastIndexOf('@'); return at >= 0 && domainIn(a.slice(at + 1), (d) => wanted.includes(d)); });
    }
    case 'glob': { const globs = lower.map(globForm); return some((a) => globs.some((g) => globMatch(g, a))); }
    // A regex sees the address as it was sent, tag and all: the one matcher that can still look at a tag.
    case 'regex': return regexNode(st, value, false, `${path}.regex`, addresses, { each: perAddress });
    case 'list': {
      for (const name of lower) useList(st, name, 'address', `${path}.list`);
      return (env) => addresses(env.facts).some((raw) => {
        const a = mailboxForm(raw, st.delimiter);
        return lower.some((name) => { const l = env.lists.get(name); return l?.kind === 'address' && listHas(l.entries, a); });
      });
    }
    default:
      st.issues.push({ path: `${path}.${key}`, message: 'is not a known key (known: address, domain, glob, regex, list)' });
      return never;
  }
}

/**
 * Records that the criterion at `path` reads list `name` (lower case) as `kind`. One file is read one way: a list
 * named by `from` and by `client_ip` would hold entries one of them can never match.
 */
function useList(st: CompileState, name: string, kind: ListKind, path: string): void {
  if (!st.listNames.has(name)) { st.issues.push({ path, message: `names no list declared under lists: ${name}` }); return; }
  const before = st.listKinds.get(name);
  if (!before) { st.listKinds.set(name, { kind, path }); return; }
  if (before.kind !== kind) {
    st.issues.push({ path, message: `${name} is read as ${KIND_TEXT[before.kind]} at ${before.path}, and a list file holds one kind: declare another list under lists for ${KIND_TEXT[kind]}` });
  }
}

/** What a value is, for a message saying it is not what was expected: never `[object Object]`. */
function described(v: unknown): string {
  if (isMapping(v)) {
    const keys = Object.keys(v);
    return keys.length ? `a mapping with ${keys.length > 1 ? 'keys' : 'key'} ${keys.join(', ')}` : 'an empty mapping';
  }
  if (Array.isArray(v)) return 'a list';
  return v === null ? 'null' : `${typeof v} ${JSON.stringify(v)}`;
}

/**
 * `client_ip`: an address or network (CIDR), `{ list: NAME }` naming a list file of them (a string or list of names),
 * or a list of those (any).
 */
function clientIpNode(st: CompileState, value: unknown, path: string): Criterion {
  const items = asList(value);
  if (items.length === 0) { st.issues.push({ path, message: 'is an empty list: it could never match' }); return never; }
  const written: string[] = [];
  const names: string[] = [];
  items.forEach((item, i) => {
    const at = Array.isArray(value) ? `${path}[${i}]` : path;
    if (typeof item === 'string' || typeof item === 'number') { written.push(String(item)); return; }
    if (isMapping(item) && Object.keys(item).length === 1 && 'list' in item) {
      const list = asList(item.list);
      if (list.length === 0 || list.some((x) => typeof x !== 'string' || x === '')) { st.issues.push({ path: `${at}.list`, message: 'expected the name of a list declared under lists, or a list of names' }); return; }
      for (const name of list as string[]) { useList(st, name.toLowerCase(), 'ip', `${at}.list`); names.push(name.toLowerCase()); }
      return;
    }
    st.issues.push({ path: at, message: `expected an IP address or network (192.0.2.0/24), { list: NAME } naming a list file of them, or a list of those; got ${described(item)}` });
  });
  let cidrs: CidrList;
  try { cidrs = new CidrList(written); } catch (e) { st.issues.push({ path, message: (e as Error).message }); return never; }
  return (env) => cidrs.has(env.facts.ip) || names.some((name) => { const l = env.lists.get(name); return l?.kind === 'ip' && l.entries.has(env.facts.ip); });
}

/** What a text criterion says to `{ list: … }`: regexes are written in the rule, where they are checked at load. */
const NO_TEXT_LIST = 'takes no list: a list file holds addresses and domains (from, to) or IP addresses and networks (client_ip), not regexes, which are written in the rule (one regex with alternatives, a|b, or several criteria under any)';

/** A glob with its domain in A-label form (`*@bücher.example` matches `u@xn--bcher-kva.example`), lower case. */
function globForm(glob: string): string {
  const g = glob.toLowerCase();
  const at = g.lastIndexOf('@');
  return at < 0 ? g : `${g.slice(0, at + 1)}${domainForm(g.slice(at + 1))}`;
}

/** Where the tag of an address starts (a delimiter after the local part's first character), or -1. */
function tagAt(address: string, delimiter: string): number {
  const at = address.lastIndexOf('@');
  if (at < 0 || address.startsWith('"')) return -1;
  const cuts = [...delimiter].map((d) => address.slice(0, at).indexOf(d)).filter((i) => i > 0);
  return cuts.length ? Math.min(...cuts) : -1;
}

function headerNode(st: CompileState, raw: unknown, path: string): Criterion {
  if (!isMapping(raw)) { st.issues.push({ path, message: `expected a mapping with name and regex, contains or exists; got ${described(raw)}` }); return never; }
  if ('list' in raw) { st.issues.push({ path: `${path}.list`, message: NO_TEXT_LIST }); return never; }
  const unknown = Object.keys(raw).filter((k) => !['name', 'regex', 'contains', 'exists', 'case_sensitive'].includes(k));
  if (unknown.length) st.issues.push({ path: `${path}.${unknown[0]}`, message: 'is not a known key (known: name, regex, contains, exists, case_sensitive)' });
  const name = raw.name === undefined || raw.name === '*' ? undefined : raw.name;
  if (name !== undefined && (typeof name !== 'string' || !FIELD_NAME.test(name))) { st.issues.push({ path: `${path}.name`, message: 'expected a header field name such as X-Mailer, or * for any field' }); return never; }
  const lname = name?.toLowerCase();
  const values = (f: Facts) => f.headers.filter((h) => lname === undefined || h.name.toLowerCase() === lname).map((h) => h.value);
  if ('exists' in raw) {
    if (lname === undefined || typeof raw.exists !== 'boolean') { st.issues.push({ path: `${path}.exists`, message: 'needs a field name and true or false' }); return never; }
    if ('regex' in raw || 'contains' in raw) st.issues.push({ path, message: 'give exists, or regex or contains, not both' });
    const want = raw.exists;
    return (env) => env.facts.headers.some((h) => h.name.toLowerCase() === lname) === want;
  }
  const { name: _n, ...matcher } = raw;
  return textNode(st, matcher, path, values);
}

/** The bounds of a range criterion (`{ over, under }`, `{ at_least, below }`); undefined when they cannot be read. */
function rangeBounds(st: CompileState, raw: unknown, path: string, keys: [string, string], read: (v: unknown) => number | undefined): { lo?: number; hi?: number } | undefined {
  const [low, high] = keys;
  if (!isMapping(raw) || Object.keys(raw).length === 0 || Object.keys(raw).some((k) => k !== low && k !== high)) {
    st.issues.push({ path, message: `expected a mapping with ${low} and/or ${high}` });
    return undefined;
  }
  const lo = raw[low] === undefined ? undefined : read(raw[low]);
  const hi = raw[high] === undefined ? undefined : read(raw[high]);
  if (raw[low] !== undefined && lo === undefined) st.issues.push({ path: `${path}.${low}`, message: `cannot be read: ${JSON.stringify(raw[low])}` });
  if (raw[high] !== undefined && hi === undefined) st.issues.push({ path: `${path}.${high}`, message: `cannot be read: ${JSON.stringify(raw[high])}` });
  if (lo !== undefined && hi !== undefined && lo >= hi) st.issues.push({ path, message: `${low} ${JSON.stringify(raw[low])} is not below ${high} ${JSON.stringify(raw[high])}: no value is in that range, the rule could never match` });
  return { lo, hi };
}

const inRange = (r: { lo?: number; hi?: number }, v: number) => (r.lo === undefined || v >= r.lo) && (r.hi === undefined || v < r.hi);

function rangeNode(st: CompileState, raw: unknown, path: string, keys: [string, string], read: (v: unknown) => number | undefined, value: (f: Facts) => number): Criterion {
  const range = rangeBounds(st, raw, path, keys, read);
  if (!range) return never;
  return (env) => inRange(range, value(env.facts));
}

/** The total the verdict would give the findings so far, scores.max_per_plugin applied: what its header will show. */
const totalScore = (f: Facts) => cappedTotal(f.findings, f.scoreCaps ?? {}).score;
const asNumber = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const asDepth = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined);

function globsOf(st: CompileState, raw: unknown, path: string): string[] {
  const list = asList(raw);
  if (list.length === 0 || list.some((x) => typeof x !== 'string' || x === '')) { st.issues.push({ path, message: 'expected a glob or a list of globs' }); return []; }
  return list as string[];
}

const ATTACHMENT_KEYS = ['name', 'type', 'detected_type', 'size'];

function attachmentNode(st: CompileState, raw: unknown, path: string): Criterion {
  st.needsParsed = true;
  if (!isMapping(raw) || Object.keys(raw).length === 0 || Object.keys(raw).some((k) => !ATTACHMENT_KEYS.includes(k))) {
    st.issues.push({ path, message: `expected a mapping with ${ATTACHMENT_KEYS.join(', ')} (one or more: "*.exe", "application/zip", { over: 5MB })` });
    return never;
  }
  const names = raw.name === undefined ? undefined : globsOf(st, raw.name, `${path}.name`);
  const types = raw.type === undefined ? undefined : globsOf(st, raw.type, `${path}.type`);
  const detected = raw.detected_type === undefined ? undefined : globsOf(st, raw.detected_type, `${path}.detected_type`);
  const size = raw.size === undefined ? undefined : rangeBounds(st, raw.size, `${path}.size`, ['over', 'under'], (v) => parseSize(v));
  if (raw.size !== undefined && !size) return never;
  // Any one of the names a part declares: the recipient's program may show any of them. A type is what the part
  // declares or what its bytes say: a program sent as application/pdf is still one.
  const globs = names?.map(matchForm);
  const test: AttachmentTest = (a) =>
    (!globs || matchNames(a).some((name) => globs.some((g) => globMatch(g, name))))
    && (!types || types.some((g) => a.types.some((t) => globMatch(g, t)) || a.detected.some((t) => globMatch(g, t))))
    && (!detected || detected.some((g) => a.detected.some((t) => globMatch(g, t))))
    && (!size || inRange(size, a.size));
  if (st.negated === 0) st.attachmentTests.push(test);
  return (env) => env.facts.attachments.some(test);
}

/** Each attachment's names as `name` globs meet them, worked out once per attachment of a message. */
const namesForMatch = new WeakMap<AttachmentFacts, string[]>();

/** An attachment's names in match form (`setup.e\u00adxe` is `setup.exe`), then as Windows saves them. */
function matchNames(a: AttachmentFacts): string[] {
  let names = namesForMatch.get(a);
  if (!names) { names = a.names.map((n) => savedName(matchForm(n))); namesForMatch.set(a, names); }
  return names;
}

/**
 * The name Windows saves a file under: trailing dots and white space dropped, so `setup.exe.` is run as `setup.exe`.
 * A loop from the end, not a regex: `/[.\s]+$/` rescans a long run of spaces from each of its characters.
 */
export function savedName(name: string): string {
  let end = name.length;
  while (end > 0 && (name[end - 1] === '.' || name[end - 1].trim() === '')) end--;
  return name.slice(0, end);
}

/** One criterion: a mapping whose keys are criteria (several keys: all of them), or a list of criteria (all). */
export function compileCriterion(st: CompileState, raw: unknown, path: string): Criterion {
  if (Array.isArray(raw)) return all(raw.map((r, i) => compileCriterion(st, r, `${path}[${i}]`)));
  if (!isMapping(raw)) {
    st.issues.push({ path, message: `expected a mapping of criteria (${CRITERIA.join(', ')})` });
    return never;
  }
  if (Object.keys(raw).length === 0) {
    st.issues.push({ path, message: `names no criterion: give one (${CRITERIA.join(', ')}), or leave \`when\` out to match every message` });
    return never;
  }
  return all(Object.entries(raw).map(([key, value]) => compileOne(st, key, value, `${path}.${key}`)));
}

function compileOne(st: CompileState, key: string, value: unknown, path: string): Criterion {
  switch (key) {
    case 'all':
    case 'any': {
      if (!Array.isArray(value) || value.length === 0) { st.issues.push({ path, message: 'expected a non-empty list of criteria' }); return never; }
      const nodes = value.map((r, i) => compileCriterion(st, r, `${path}[${i}]`));
      return key === 'all' ? all(nodes) : any(nodes);
    }
    case 'not': {
      st.negated++;
      const inner = compileCriterion(st, value, path);
      st.negated--;
      return (env) => { const a = inner(env); return a === undefined ? undefined : !a; };
    }
    case 'from': return addressNode(st, value, path, (f) => [f.mailFrom]);
    // Per recipient: a later rule sees only the recipients an earlier discard left, its regex included.
    case 'to': st.usesTo = true; return addressNode(st, value, path, (f) => f.recipients, true);
    case 'client_ip': return clientIpNode(st, value, path);
    case 'authenticated':
    case 'relay_network':
    case 'outbound': {
      if (typeof value !== 'boolean') { st.issues.push({ path, message: 'expected true or false' }); return never; }
      if (key === 'outbound') return (env) => isOutbound(env.facts) === value;
      return key === 'authenticated' ? (env) => env.facts.authenticated === value : (env) => env.facts.relayNetwork === value;
    }
    case 'header':
      if (Array.isArray(value) && value.length === 0) { st.issues.push({ path, message: 'is an empty list: it could never match' }); return never; }
      return any(asList(value).map((v, i) => headerNode(st, v, Array.isArray(value) ? `${path}[${i}]` : path)));
    case 'subject': return textNode(st, value, path, (f) => [f.subject]);
    case 'body': st.needsParsed = true; return textNode(st, value, path, (f) => [f.body]);
    case 'attachment': return attachmentNode(st, value, path);
    case 'mime_depth': st.needsParsed = true; return rangeNode(st, value, path, ['at_least', 'below'], asDepth, (f) => f.mimeDepth);
    case 'mime_incomplete': {
      st.needsParsed = true;
      if (typeof value !== 'boolean') { st.issues.push({ path, message: 'expected true or false' }); return never; }
      return (env) => (env.facts.mimeIncomplete !== undefined) === value;
    }
    case 'size': return rangeNode(st, value, path, ['over', 'under'], (v) => parseSize(v), (f) => f.size);
    case 'score':
      st.reads.push({ path });
      return rangeNode(st, value, path, ['at_least', 'below'], asNumber, totalScore);
    case 'symbol': {
      const globs = globsOf(st, value, path);
      st.reads.push({ path, globs });
      return (env) => env.facts.findings.some((x) => globs.some((g) => globMatch(g, x.symbol)));
    }
    case 'time': {
      const ranges = asList(value).map((v) => (typeof v === 'string' ? parseTimeRange(v) : undefined));
      if (ranges.length === 0 || ranges.some((r) => !r)) { st.issues.push({ path, message: 'expected a time range such as 08:00-17:30 (or a list of them)' }); return never; }
      const empty = ranges.findIndex((r) => r!.from === r!.to);
      if (empty >= 0) { st.issues.push({ path, message: `${JSON.stringify(asList(value)[empty])} is an empty range (it ends where it starts): write 00:00-24:00 for the whole day` }); return never; }
      return (env) => { const m = wallClock(env.facts.now, env.timeZone).minutes; return ranges.some((r) => inTimeRange(r!, m)); };
    }
    case 'weekday': {
      const sets = asList(value).map((v) => (typeof v === 'string' ? parseWeekdays(v) : undefined));
      if (sets.length === 0 || sets.some((x) => !x)) { st.issues.push({ path, message: 'expected a weekday (mon or monday) or a range such as mon-fri (or a list of them)' }); return never; }
      return (env) => { const d = wallClock(env.facts.now, env.timeZone).weekday; return sets.some((x) => x!.has(d)); };
    }
    default:
      st.issues.push({ path, message: `is not a known criterion (known: ${CRITERIA.join(', ')})` });
      return never;
  }
}
