// SPF macros (RFC 7208 section 7): syntax check of macro-strings and their expansion.

export type MacroPart =
  | { kind: 'literal'; text: string }
  | { kind: 'macro'; letter: string; escape: boolean; keep: number; reverse: boolean; delimiters: string };

/** What the macro letters stand for during one evaluation. */
export interface MacroValues {
  /** %{s}: the whole sender, `local@domain`. */
  sender: string;
  /** %{l} */
  local: string;
  /** %{o}: the domain of the sender. */
  senderDomain: string;
  /** %{d}: the domain whose record is being evaluated. */
  domain: string;
  /** %{i} */
  ip: string;
  /** %{c} */
  ipText: string;
  /** %{v}: `in-addr` or `ip6`. */
  version: string;
  /** %{h} */
  helo: string;
  /** %{r} */
  receiver: string;
  /** %{p}: looked up only when a record uses it, since it costs DNS queries. */
  validatedName(): Promise<string>;
}

const DOMAIN_LETTERS = 'slodiphv';
const EXPLAIN_LETTERS = 'slodiphvcrt';
const MACRO_RE = /^%\{([a-z])(\d*)(r?)([.\-+,/_=]*)\}/i;

/**
 * Splits a macro-string into parts; undefined when it breaks the grammar.
 * `explain` allows spaces and the letters c, r and t, which only explanation text may use.
 */
export function parseMacroString(s: string, explain = false): MacroPart[] | undefined {
  const letters = explain ? EXPLAIN_LETTERS : DOMAIN_LETTERS;
  const parts: MacroPart[] = [];
  let literal = '';
  for (let i = 0; i < s.length;) {
    const ch = s[i];
    if (ch !== '%') {
      const code = ch.charCodeAt(0);
      const ok = (code >= 0x21 && code <= 0x7e) || (explain && code === 0x20);
      if (!ok) return undefined;
      literal += ch;
      i++;
      continue;
    }
    const next = s[i + 1];
    if (next === '%') { literal += '%'; i += 2; continue; }
    if (next === '_') { literal += ' '; i += 2; continue; }
    if (next === '-') { literal += '%20'; i += 2; continue; }
    const m = MACRO_RE.exec(s.slice(i));
    if (!m || !letters.includes(m[1].toLowerCase())) return undefined;
    if (m[2] !== '' && Number(m[2]) === 0) return undefined;
    if (literal) { parts.push({ kind: 'literal', text: literal }); literal = ''; }
    parts.push({
      kind: 'macro',
      letter: m[1].toLowerCase(),
      escape: m[1] !== m[1].toLowerCase(),
      keep: m[2] === '' ? 0 : Number(m[2]),
      reverse: m[3] !== '',
      delimiters: m[4] || '.',
    });
    i += m[0].length;
  }
  if (literal) parts.push({ kind: 'literal', text: literal });
  return parts;
}

/** True when the macro-string ends in a macro rather than a literal (so its domain-end need not be a toplabel). */
export function endsWithMacro(parts: MacroPart[]): boolean {
  return parts.length > 0 && parts[parts.length - 1].kind === 'macro';
}

/** URL-escapes everything but RFC 3986 unreserved characters, for upper-case macro letters. */
function urlEscape(v: string): string {
  let out = '';
  for (const byte of Buffer.from(v, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

async function letterValue(letter: string, v: MacroValues): Promise<string> {
  switch (letter) {
    case 's': return v.sender;
    case 'l': return v.local;
    case 'o': return v.senderDomain;
    case 'd': return v.domain;
    case 'i': return v.ip;
    case 'c': return v.ipText;
    case 'v': return v.version;
    case 'h': return v.helo;
    case 'r': return v.receiver;
    case 't': return String(Math.floor(Date.now() / 1000));
    default: return v.validatedName();
  }
}

/** A letter's value split at a set of delimiters, once per expansion for all macros that ask for the same split. */
class LabelCache {
  private readonly values: MacroValues;
  private readonly labels = new Map<string, Promise<string[]>>();

  constructor(values: MacroValues) {
    this.values = values;
  }

  // A record can repeat a macro thousands of times over a long HELO or sender, each adding nothing to the output
  // (%{h1} of a name ending in a dot): splitting once keeps the work linear in the record plus the values.
  get(letter: string, delimiters: string): Promise<string[]> {
    const set = [...new Set(delimiters)].sort().join('');
    const key = letter + set;
    let labels = this.labels.get(key);
    if (!labels) {
      const splitter = new RegExp(`[${set.replace(/[-\\\]^/]/g, '\\$&')}]`);
      labels = letterValue(letter, this.values).then((v) => v.split(splitter));
      this.labels.set(key, labels);
    }
    return labels;
  }
}

/** Which end of an expansion is kept when it is cut to a maximum length. */
export type Side = 'start' | 'end';

/**
 * The first or last `max` characters of a macro's output: its labels, maybe reversed, the rightmost `keep` of them,
 * joined with dots (RFC 7208 7.3). Reads labels by index from the kept end and stops once there are enough,
 * so a long value costs no more than the part of it that survives.
 */
function macroOutput(p: Extract<MacroPart, { kind: 'macro' }>, labels: readonly string[], max: number, side: Side): string {
  const count = p.keep ? Math.min(p.keep, labels.length) : labels.length;
  const first = labels.length - count;
  const at = (i: number) => (p.reverse ? labels[count - 1 - i] : labels[first + i]);
  const taken: string[] = [];
  for (let n = 0, length = -1; n < count && length < max; n++) {
    const label = at(side === 'start' ? n : count - 1 - n);
    taken.push(label);
    length += label.length + 1;
  }
  if (side === 'end') taken.reverse();
  // Escaping the taken labels whole and then cutting gives exactly the characters the full expansion, cut the same
  // way, would have at this end (escapes included).
  const text = p.escape ? urlEscape(taken.join('.')) : taken.join('.');
  return cut(text, max, side);
}

function cut(text: string, max: number, side: Side): string {
  if (text.length <= max) return text;
  return side === 'start' ? text.slice(0, max) : text.slice(text.length - max);
}

/**
 * Expands parsed parts with the current values, keeping only the first or last `max` characters.
 * The parts are walked from the kept end and the walk stops once `max` characters are there: an attacker's record
 * can multiply a long value by thousands of macros, and everything past the cut would be thrown away anyway.
 * Macros beyond the cut are not evaluated, so %{p} may go unlooked-up when it could not reach the result.
 */
export async function expandMacros(parts: MacroPart[], values: MacroValues, max: number, side: Side): Promise<string> {
  const cache = new LabelCache(values);
  const pieces: string[] = [];
  let length = 0;
  for (let i = 0; i < parts.length && length < max; i++) {
    const p = parts[side === 'start' ? i : parts.length - 1 - i];
    const room = max - length;
    const piece = p.kind === 'literal' ? cut(p.text, room, side) : macroOutput(p, await cache.get(p.letter, p.delimiters), room, side);
    pieces.push(piece);
    length += piece.length;
  }
  if (side === 'end') pieces.reverse();
  return pieces.join('');
}
