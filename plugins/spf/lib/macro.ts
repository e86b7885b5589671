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

/** Expands parsed parts with the current values. */
export async function expandMacros(parts: MacroPart[], values: MacroValues): Promise<string> {
  let out = '';
  for (const p of parts) {
    if (p.kind === 'literal') { out += p.text; continue; }
    let value = await letterValue(p.letter, values);
    if (p.keep || p.reverse || p.delimiters !== '.') {
      const splitter = new RegExp(`[${p.delimiters.replace(/[-\\\]^/]/g, '\\$&')}]`);
      let labels = value.split(splitter);
      if (p.reverse) labels.reverse();
      if (p.keep) labels = labels.slice(Math.max(0, labels.length - p.keep));
      value = labels.join('.');
    }
    out += p.escape ? urlEscape(value) : value;
  }
  return out;
}
